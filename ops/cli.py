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
    from core.models import FINISHED_STATES, Trigger
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
        last: Any = None
        while True:
            current = store.runs.find_one({"_id": run["_id"]}) or {}
            line = (current.get("state"), current.get("progress"))
            if line != last:
                click.echo(f"{current.get('state')}  {current.get('progress') or ''}", err=True)
                last = line
            if current.get("state") in FINISHED_STATES:
                if current.get("error"):
                    click.echo(current["error"].get("message"), err=True)
                sys.exit(0 if current["state"] == "succeeded" else 1)
            time.sleep(0.5)
