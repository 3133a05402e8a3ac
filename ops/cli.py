"""The `syncfarm` command: start the processes, create tenants, run jobs, look at projects."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import click

from core.config import load_settings
from core.errors import SyncfarmError
from core.plans import DEFAULT_PLAN, PLANS
from core.store import Store

#: Characters of the progress bar of `run --follow`.
_BAR_WIDTH = 30


def _store() -> Store:
    settings = load_settings()
    return Store.connect(settings.mongo_url, settings.mongo_db_name)


@click.group()
def main() -> None:
    """syncfarm: keep e-commerce data in sync on schedules."""


@main.command()
@click.option(
    "--port",
    type=int,
    default=lambda: int(os.environ.get("PORT", "5000")),
    help="port to bind ($PORT, default 5000)",
)
@click.option("--workers", type=int, default=lambda: int(os.environ.get("WEB_CONCURRENCY", "2")))
def web(port: int, workers: int) -> None:
    """Run the web process (REST API, docs, export files) under gunicorn."""
    os.execvp(
        "gunicorn",
        [
            "gunicorn",
            "--bind",
            f"0.0.0.0:{port}",
            "--workers",
            str(workers),
            "--access-logfile",
            "-",
            "api.app:create_app()",
        ],
    )


@main.command()
@click.option(
    "--processes", type=int, default=lambda: int(os.environ.get("SYNCFARM_WORKER_PROCESSES", "1"))
)
@click.option(
    "--threads", type=int, default=lambda: int(os.environ.get("SYNCFARM_WORKER_THREADS", "4"))
)
@click.option(
    "--poll-ms",
    type=int,
    default=lambda: int(os.environ.get("SYNCFARM_WORKER_POLL_MS", "100")),
    help="how often an idle worker polls its queue; bounds a project's hand-off time",
)
def worker(processes: int, threads: int, poll_ms: int) -> None:
    """Run Dramatiq workers executing runs."""
    os.environ["dramatiq_worker_timeout"] = str(poll_ms)  # noqa: SIM112 (Dramatiq reads it so)
    os.execvp(
        "dramatiq",
        [
            "dramatiq",
            "worker.app",
            "--processes",
            str(processes),
            "--threads",
            str(threads),
            "--queues",
            "runs",
        ],
    )


@main.command()
def cron() -> None:
    """Run a ticker (start two or more for high availability; one leads at a time)."""
    from cron.__main__ import main as cron_main

    cron_main()


@main.group()
def tenant() -> None:
    """Tenants and their API keys."""


@tenant.command("create")
@click.argument("name")
@click.option("--plan", type=click.Choice(sorted(PLANS)), default=DEFAULT_PLAN, show_default=True)
@click.option("--admin", is_flag=True, help="an operator who may see every tenant's work")
def tenant_create(name: str, plan: str, admin: bool) -> None:
    """Create a tenant and print its API key (shown only this once)."""
    from core.tenants import create_tenant

    created, key = create_tenant(_store(), name, plan=plan, admin=admin)
    click.echo(f"tenant {created['_id']} ({created['name']}, plan {plan})", err=True)
    click.echo(key)


@main.group()
def maintenance() -> None:
    """Maintenance of the stored data."""


@maintenance.command("integrity")
@click.option("--dry-run", is_flag=True, help="only report what would be upgraded")
@click.option("--project", "project_id", help="only this project's documents")
def maintenance_integrity(dry_run: bool, project_id: str | None) -> None:
    """Upgrade stored documents to the current schema version and report what changed."""
    from core.maintenance import describe, run_integrity

    report = run_integrity(_store(), project_id=project_id, dry_run=dry_run)
    for line in describe(report):
        click.echo(line)


@main.command("projects")
def list_projects() -> None:
    """List every project with its tenant, timezone and schedule mode."""
    store = _store()
    for project in store.projects.find({}).sort("_id", 1):
        click.echo(
            f"{project['_id']}  {project['tenant_id']}  {project['timezone']:<20} "
            f"{project['schedule']['mode']:<10} {'paused ' if project['paused'] else ''}"
            f"{project['name']}"
        )


@main.command("run")
@click.argument("project_id")
@click.argument("job_id")
@click.option("--follow", is_flag=True, help="follow the run until it ends")
def run_job(project_id: str, job_id: str, follow: bool) -> None:
    """Run a job now."""
    from core.models import Trigger
    from core.runs import claim_run
    from worker.broker import build_broker
    from worker.enqueue import submit_run

    store = _store()
    job = store.jobs.find_one({"_id": job_id, "project_id": project_id})
    if job is None:
        raise click.ClickException(f"no job {job_id!r} in project {project_id!r}")
    try:
        run = claim_run(store, job, Trigger.MANUAL)
    except SyncfarmError as exc:
        raise click.ClickException(exc.message) from None
    assert run is not None
    try:
        submit_run(store, build_broker(load_settings()), run)
    except SyncfarmError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(run["_id"])
    if follow:
        sys.exit(_follow(store, run["_id"]))


def _progress_line(run: dict[str, Any]) -> str:
    """`state  stage  done/total` with a bar when the total is known."""
    progress = run.get("progress") or {}
    stage = progress.get("stage") or (run.get("stages") or [{}])[-1].get("name") or ""
    done, total = progress.get("done"), progress.get("total")
    line = f"{run.get('state', '?'):<8} {stage}"
    if isinstance(done, int) and isinstance(total, int) and total > 0:
        filled = min(_BAR_WIDTH, _BAR_WIDTH * done // total)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        line += f" [{bar}] {done}/{total}"
    elif isinstance(done, int):
        line += f" {done}"
    return line.rstrip()


def _follow(store: Store, run_id: str, *, poll_s: float = 0.5) -> int:
    """Show the run's progress on one line (rewritten with a carriage return on a terminal,
    one line per change otherwise) until it ends; the exit code: 0 if it succeeded, else 1."""
    from core.models import FINISHED_STATES

    tty = sys.stderr.isatty()
    shown = ""
    while True:
        run: dict[str, Any] = store.runs.find_one({"_id": run_id}) or {}
        line = _progress_line(run)
        if line != shown:
            if tty:
                click.echo(f"\r{line:<{len(shown)}}", nl=False, err=True)
            else:
                click.echo(line, err=True)
            shown = line
        if run.get("state") in FINISHED_STATES:
            break
        time.sleep(poll_s)
    if tty:
        click.echo(err=True)
    outcome = f"run {run_id} {run['state']}"
    if run.get("started_at") and run.get("finished_at"):
        outcome += f" in {(run['finished_at'] - run['started_at']) / 1000:.1f} s"
    if run.get("error"):
        outcome += f": {run['error'].get('message')}"
    click.echo(outcome, err=True)
    return 0 if run["state"] == "succeeded" else 1


@main.group("queues", invoke_without_command=True)
@click.pass_context
def queues_group(ctx: click.Context) -> None:
    """Show the queues, the leading ticker, and project locks with their waiting runs; its
    commands list, requeue and delete dead-lettered messages."""
    if ctx.invoked_subcommand is None:
        show_queues()


def _broker_redis() -> Any:
    """The broker's Redis client; a clear error for a broker that is not Redis."""
    import redis

    settings = load_settings()
    if settings.broker_url.split(":", 1)[0] not in ("redis", "rediss", "unix"):
        raise click.ClickException(
            f"dead letters are kept by a Redis broker only; SYNCFARM_BROKER_URL is "
            f"{settings.broker_url.split(':')[0]}://"
        )
    return redis.Redis.from_url(settings.broker_url)


@queues_group.command("dead")
@click.option("--queue", default="runs", show_default=True)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def show_dead_letters(queue: str, limit: int) -> None:
    """List a queue's dead-lettered messages, the most recent first."""
    import redis

    from core import deadletters

    try:
        letters = deadletters.dead_letters(_broker_redis(), queue, limit=limit)
    except redis.RedisError as exc:
        raise click.ClickException(f"could not read the broker's Redis ({exc})") from None
    if not letters:
        click.echo(f"queue {queue}: no dead letters")
    for letter in letters:
        args = ", ".join(str(a) for a in letter.args)
        click.echo(
            f"{letter.message_id} {letter.actor}({args}) retries={letter.retries} "
            f"error={letter.error or '-'}"
        )


@queues_group.command("requeue")
@click.argument("queue")
@click.argument("message_id")
def requeue_dead_letter(queue: str, message_id: str) -> None:
    """Send a dead-lettered message back to the end of its queue."""
    _dead_letter_action(queue, message_id, requeue=True)


@queues_group.command("delete")
@click.argument("queue")
@click.argument("message_id")
def delete_dead_letter(queue: str, message_id: str) -> None:
    """Forget a dead-lettered message for good."""
    _dead_letter_action(queue, message_id, requeue=False)


def _dead_letter_action(queue: str, message_id: str, *, requeue: bool) -> None:
    import redis

    from core import deadletters

    action = deadletters.requeue if requeue else deadletters.delete
    try:
        done = action(_broker_redis(), queue, message_id)
    except redis.RedisError as exc:
        raise click.ClickException(f"could not reach the broker's Redis ({exc})") from None
    if not done:
        raise click.ClickException(f"{message_id} is not among the dead letters of queue {queue}")
    click.echo(f"{message_id} {'sent back to' if requeue else 'deleted from'} queue {queue}")


def show_queues() -> None:
    """Show the queues, the leading ticker, and project locks with their waiting runs."""
    import redis

    from core import queues

    settings = load_settings()
    mutex_redis = redis.Redis.from_url(settings.redis_url)
    try:
        if settings.broker_url.split(":", 1)[0] in ("redis", "rediss", "unix"):
            broker_redis = redis.Redis.from_url(settings.broker_url)
            click.echo(
                f"{'queue':<12} {'ready':>8} {'in-flight':>10} {'delayed':>8} {'dead-lettered':>14}"
            )
            for depth in queues.queue_depths(broker_redis, ["runs"]):
                click.echo(
                    f"{depth.queue:<12} {depth.ready:>8} {depth.in_flight:>10} "
                    f"{depth.delayed:>8} {depth.dead_lettered:>14}"
                )
        else:
            click.echo(
                f"queues: not shown for the broker at {settings.broker_url.split(':')[0]}://"
            )
        click.echo(f"ticker leader: {queues.ticker_leader(mutex_redis) or 'none'}")
        locks = queues.project_locks(mutex_redis)
    except redis.RedisError as exc:
        raise click.ClickException(
            f"could not read Redis ({exc}); check SYNCFARM_REDIS_URL and SYNCFARM_BROKER_URL"
        ) from None
    if not locks:
        click.echo("project locks: none held")
    for lock in locks:
        state = f"held ({lock.ttl_ms} ms left)" if lock.held else "free"
        click.echo(f"project {lock.project_id}: {state}, {len(lock.waiting)} waiting")
        for run_id in lock.waiting:
            click.echo(f"  waiting: {run_id}")
