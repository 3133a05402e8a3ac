"""The `syncfarm` command against nx-27017 and Redis db 10, configured by SYNCFARM_* as in use."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pymongo
import pytest
import redis
from click.testing import CliRunner
from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import SkipMessage

from core import runs
from core.jobs import create_job
from core.models import RunState
from core.projects import create_project
from core.store import Store
from core.tenants import create_tenant, tenant_for_key
from ops import cli
from tests.conftest import redis_client, redis_url
from worker.middleware import ProjectMutex


@pytest.fixture
def farm_redis() -> Iterator[redis.Redis]:
    client = redis_client(10)
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def cli_store(
    nx_url: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    farm_redis: redis.Redis,
) -> Iterator[Store]:
    """The store the command uses, reached the way it reaches it: through the environment."""
    name = "cli_" + request.node.name[:40]
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(nx_url, tz_aware=True)
    for collection in client[name].list_collection_names():
        client[name].drop_collection(collection)
    monkeypatch.setenv("SYNCFARM_MONGO_URL", f"{nx_url}/{name}")
    monkeypatch.setenv("SYNCFARM_REDIS_URL", redis_url(10))
    monkeypatch.delenv("SYNCFARM_BROKER_URL", raising=False)
    yield Store(client[name])
    client.close()


def _message(run_id: str, project_id: str) -> Message[Any]:
    return Message(
        queue_name="runs",
        actor_name="execute_run",
        args=(run_id,),
        kwargs={},
        options={"project_id": project_id},
    )


def test_tenant_create_prints_a_key_that_opens_the_api(cli_store: Store) -> None:
    result = CliRunner().invoke(cli.main, ["tenant", "create", "acme", "--plan", "pro"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert "plan pro" in result.stderr
    tenant = tenant_for_key(cli_store, key)
    assert tenant is not None and tenant["name"] == "acme" and tenant["plan"] == "pro"


def test_queues_shows_depths_the_ticker_leader_and_locks_with_waiting_runs(
    cli_store: Store, farm_redis: redis.Redis
) -> None:
    broker = RedisBroker(client=farm_redis)
    broker.declare_queue("runs")
    broker.enqueue(_message("run_a", "prj_2"))
    broker.enqueue(_message("run_b", "prj_2"))
    broker.enqueue(_message("run_c", "prj_2"), delay=60_000)
    farm_redis.set("syncfarm:ticker:leader", "cron-1:5f3a")
    mutex = ProjectMutex(client=farm_redis)
    try:
        mutex.before_process_message(broker, MessageProxy(_message("run_1", "prj_1")))
        with pytest.raises(SkipMessage):
            mutex.before_process_message(broker, MessageProxy(_message("run_2", "prj_1")))
        result = CliRunner().invoke(cli.main, ["queues"])
    finally:
        mutex.after_worker_shutdown(None, None)  # type: ignore[arg-type]

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["queue", "ready", "in-flight", "delayed", "dead-lettered"]
    assert lines[1].split() == ["runs", "2", "0", "1", "0"]
    assert "ticker leader: cron-1:5f3a" in lines
    assert any(line.startswith("project prj_1: held (") for line in lines)
    assert "1 waiting" in result.stdout
    assert "  waiting: run_2" in lines


def test_queues_says_so_when_nothing_is_queued_or_locked(cli_store: Store) -> None:
    result = CliRunner().invoke(cli.main, ["queues"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split() == ["runs", "0", "0", "0", "0"]
    assert "ticker leader: none" in result.stdout
    assert "project locks: none held" in result.stdout


def _job(store: Store) -> dict[str, Any]:
    tenant, _ = create_tenant(store, "acme", plan="unlimited")
    project = create_project(store, tenant, {"name": "Shop"})
    return create_job(store, tenant, project, {"kind": "sync"})


def _driver(store: Store, job_id: str, ending: RunState, error: str | None) -> Any:
    """Stands in for the CLI's pause between polls: each pause moves the run one step, as a
    worker would, so the test is fast and sees every step."""
    steps = iter(
        [
            lambda run_id: runs.start_run(store, run_id, worker="test:1"),
            lambda run_id: runs.save_progress(
                store, run_id, {"stage": "import", "done": 5, "total": 10}
            ),
            lambda run_id: runs.save_progress(
                store, run_id, {"stage": "export", "done": 10, "total": 10}
            ),
            lambda run_id: runs.finish_run(
                store, run_id, ending, error={"message": error} if error else None
            ),
        ]
    )

    def sleep(_seconds: float) -> None:
        run = store.runs.find_one({"job_id": job_id})
        assert run is not None
        next(steps)(run["_id"])

    return SimpleNamespace(sleep=sleep)


def test_run_follow_shows_progress_and_exits_0_when_the_run_succeeds(
    cli_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _job(cli_store)
    monkeypatch.setattr(cli, "time", _driver(cli_store, job["_id"], RunState.SUCCEEDED, None))
    result = CliRunner().invoke(cli.main, ["run", job["project_id"], job["_id"], "--follow"])
    assert result.exit_code == 0, result.output
    run_id = result.stdout.strip()
    run = cli_store.runs.find_one({"_id": run_id})
    assert run is not None and run["state"] == "succeeded"
    progress = result.stderr.splitlines()
    assert progress[0].split() == ["queued"]
    assert "import [###############---------------] 5/10" in progress[2]
    assert "export [##############################] 10/10" in progress[3]
    assert progress[-1].startswith(f"run {run_id} succeeded in ")


def test_run_follow_exits_1_and_says_why_when_the_run_fails(
    cli_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _job(cli_store)
    monkeypatch.setattr(
        cli, "time", _driver(cli_store, job["_id"], RunState.FAILED, "feed answered 404")
    )
    result = CliRunner().invoke(cli.main, ["run", job["project_id"], job["_id"], "--follow"])
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1].endswith("failed in 0.0 s: feed answered 404")


def test_a_dead_letter_is_listed_requeued_and_deleted_from_the_command_line(
    cli_store: Store, farm_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCFARM_BROKER_URL", redis_url(10))
    broker = RedisBroker(client=farm_redis)
    broker.declare_queue("runs")
    ids = []
    for run_id in ("run_x", "run_y"):
        message = broker.enqueue(_message(run_id, "prj_9"))
        consumer = broker.consume("runs", prefetch=1, timeout=100)
        fetched = next(consumer)
        assert fetched is not None
        consumer.nack(fetched)  # dead-lettered, as after its last retry
        consumer.close()
        ids.append(str(message.options["redis_message_id"]))
    runner = CliRunner()

    listed = runner.invoke(cli.main, ["queues", "dead"])
    assert listed.exit_code == 0, listed.output
    assert all(any(line.startswith(i) for line in listed.stdout.splitlines()) for i in ids)
    assert "execute_run(run_x)" in listed.stdout and "execute_run(run_y)" in listed.stdout
    assert runner.invoke(cli.main, ["queues"]).stdout.splitlines()[1].split()[-1] == "2"

    requeued = runner.invoke(cli.main, ["queues", "requeue", "runs", ids[0]])
    assert requeued.exit_code == 0 and "sent back to queue runs" in requeued.stdout
    deleted = runner.invoke(cli.main, ["queues", "delete", "runs", ids[1]])
    assert deleted.exit_code == 0 and "deleted from queue runs" in deleted.stdout
    assert runner.invoke(cli.main, ["queues"]).stdout.splitlines()[1].split() == [
        "runs",
        "1",
        "0",
        "0",
        "0",
    ]
    again = runner.invoke(cli.main, ["queues", "requeue", "runs", ids[1]])
    assert again.exit_code == 1 and "is not among the dead letters of queue runs" in again.output


def test_dead_letters_need_a_redis_broker(
    cli_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCFARM_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")
    result = CliRunner().invoke(cli.main, ["queues", "dead"])
    assert result.exit_code == 1 and "kept by a Redis broker only" in result.output
