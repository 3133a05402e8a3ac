"""`/metrics` on a small known farm: mongomock store, real Redis (db 10) for queues and locks."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis
from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import SkipMessage
from prometheus_client.parser import text_string_to_metric_families
from redis.backoff import NoBackoff
from redis.retry import Retry

from api.app import create_app
from core.clock import now_ms
from core.config import Settings
from core.retention import COUNTERS_KEY
from core.store import Store
from tests.conftest import redis_client
from worker.middleware import ProjectMutex

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def farm_redis() -> Iterator[redis.Redis]:
    client = redis_client(10)
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def redis_broker(farm_redis: redis.Redis) -> RedisBroker:
    broker = RedisBroker(client=farm_redis)
    broker.declare_queue("runs")
    return broker


@pytest.fixture
def farm_client(
    store: Store, settings: Settings, redis_broker: RedisBroker, farm_redis: redis.Redis
) -> Any:
    app = create_app(
        {
            "TESTING": True,
            "SYNCFARM_SETTINGS": settings,
            "SYNCFARM_STORE": store,
            "SYNCFARM_BROKER": redis_broker,
            "SYNCFARM_REDIS": farm_redis,
        }
    )
    return app.test_client()


def scrape(client: Any, headers: dict[str, str] | None = None) -> Samples:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def _run(run_id: str, state: str, kind: str = "sync", **times: Any) -> dict[str, Any]:
    return {
        "_id": run_id,
        "project_id": "prj_1",
        "job_id": "job_1",
        "job_kind": kind,
        "trigger": times.pop("trigger", "manual"),
        "state": state,
        "queued_at": times.get("queued_at", 1_000),
        "started_at": times.get("started_at"),
        "finished_at": times.get("finished_at"),
    }


def _message(run_id: str, project_id: str) -> Message[Any]:
    return Message(
        queue_name="runs",
        actor_name="execute_run",
        args=(run_id,),
        kwargs={},
        options={"project_id": project_id},
    )


def test_metrics_need_no_api_key_and_count_runs_by_state_and_kind(
    farm_client: Any, store: Store
) -> None:
    store.runs.insert_many(
        [
            _run("run_1", "succeeded", started_at=2_000, finished_at=12_000),
            _run("run_2", "succeeded", started_at=2_000, finished_at=32_000),
            _run("run_3", "failed", kind="fetch", started_at=2_000, finished_at=4_000),
            _run("run_4", "queued"),
        ]
    )
    samples = scrape(farm_client)
    assert samples[("syncfarm_runs", (("job_kind", "sync"), ("state", "succeeded")))] == 2
    assert samples[("syncfarm_runs", (("job_kind", "fetch"), ("state", "failed")))] == 1
    assert samples[("syncfarm_runs", (("job_kind", "sync"), ("state", "queued")))] == 1
    assert samples[("syncfarm_runs", (("job_kind", "send"), ("state", "running")))] == 0
    duration = "syncfarm_run_duration_seconds"
    assert samples[(duration, (("job_kind", "sync"), ("quantile", "0.5")))] == 10.0
    assert samples[(duration, (("job_kind", "sync"), ("quantile", "1.0")))] == 30.0
    assert samples[(duration, (("job_kind", "fetch"), ("quantile", "1.0")))] == 2.0
    assert samples[("syncfarm_run_duration_sample_runs", (("job_kind", "sync"),))] == 2
    assert samples[("syncfarm_metrics_source_up", (("source", "store"),))] == 1


def test_schedule_lateness_is_the_start_delay_of_scheduled_runs_and_overdue_jobs(
    farm_client: Any, store: Store
) -> None:
    store.runs.insert_many(
        [
            _run("run_1", "succeeded", trigger="schedule", queued_at=1_000, started_at=1_500),
            _run("run_2", "running", trigger="schedule", queued_at=1_000, started_at=5_000),
            _run("run_3", "succeeded", trigger="manual", queued_at=1_000, started_at=90_000),
        ]
    )
    store.jobs.insert_one({"_id": "job_1", "next_fire_at": now_ms() - 120_000})
    samples = scrape(farm_client)
    delay = "syncfarm_schedule_start_delay_seconds"
    assert samples[(delay, (("quantile", "0.5"),))] == 0.5
    assert samples[(delay, (("quantile", "1.0"),))] == 4.0
    assert samples[("syncfarm_schedule_start_delay_sample_runs", ())] == 2
    assert 120 <= samples[("syncfarm_schedule_overdue_seconds", ())] < 130


def test_pending_and_failed_changes_are_counted_per_channel(farm_client: Any, store: Store) -> None:
    store.connections.insert_many(
        [
            {"_id": "con_feed", "project_id": "prj_1", "role": "source"},
            {"_id": "con_shop", "project_id": "prj_1", "role": "channel"},
        ]
    )
    states = ["pending", "pending", "pending", "failed", "done", "stopped"]
    store.changes.insert_many(
        [
            {"_id": f"con_shop:{i}", "connection_id": "con_shop", "state": state}
            for i, state in enumerate(states)
        ]
    )
    samples = scrape(farm_client)
    labels = (("connection_id", "con_shop"), ("project_id", "prj_1"))
    assert samples[("syncfarm_channel_changes", (*labels, ("state", "pending")))] == 3
    assert samples[("syncfarm_channel_changes", (*labels, ("state", "failed")))] == 1
    assert not any(key[1][:1] == (("connection_id", "con_feed"),) for key in samples)


def test_queue_depths_show_ready_delayed_and_dead_lettered_messages(
    farm_client: Any, redis_broker: RedisBroker
) -> None:
    for n in range(3):
        redis_broker.enqueue(_message(f"run_{n}", "prj_1"))
    redis_broker.enqueue(_message("run_later", "prj_1"), delay=60_000)
    consumer = redis_broker.consume("runs", prefetch=1, timeout=100)
    first = next(consumer)
    assert first is not None
    consumer.nack(first)  # dead-lettered
    next(consumer)  # fetched and not acked: in flight
    samples = scrape(farm_client)
    depth = {
        state: samples[("syncfarm_queue_messages", (("queue", "runs"), ("state", state)))]
        for state in ("ready", "in_flight", "delayed", "dead_lettered")
    }
    assert depth == {"ready": 1, "in_flight": 1, "delayed": 1, "dead_lettered": 1}
    consumer.close()


def test_lock_waits_show_each_project_with_runs_waiting_for_its_lease(
    farm_client: Any, redis_broker: RedisBroker, farm_redis: redis.Redis
) -> None:
    mutex = ProjectMutex(client=farm_redis)
    try:
        mutex.before_process_message(redis_broker, MessageProxy(_message("run_1", "prj_1")))
        for run_id in ("run_2", "run_3"):
            with pytest.raises(SkipMessage):
                mutex.before_process_message(redis_broker, MessageProxy(_message(run_id, "prj_1")))
        mutex.before_process_message(redis_broker, MessageProxy(_message("run_9", "prj_2")))
        farm_redis.set("syncfarm:ticker:leader", "cron-host:abc")
        samples = scrape(farm_client)
    finally:
        mutex.after_worker_shutdown(None, None)  # type: ignore[arg-type]
    assert samples[("syncfarm_project_locks_held", ())] == 2
    assert samples[("syncfarm_lock_waiting_projects", ())] == 1
    assert samples[("syncfarm_lock_waiting_runs", (("project_id", "prj_1"),))] == 2
    assert ("syncfarm_lock_waiting_runs", (("project_id", "prj_2"),)) not in samples
    assert samples[("syncfarm_lock_oldest_wait_seconds", (("project_id", "prj_1"),))] < 60
    assert samples[("syncfarm_ticker_leader", ())] == 1
    assert samples[("syncfarm_metrics_source_up", (("source", "redis"),))] == 1


def test_metrics_still_answer_with_the_store_figures_when_redis_is_down(
    store: Store, settings: Settings
) -> None:
    down = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    app = create_app(
        {
            "TESTING": True,
            "SYNCFARM_SETTINGS": settings,
            "SYNCFARM_STORE": store,
            "SYNCFARM_BROKER": RedisBroker(client=down),
            "SYNCFARM_REDIS": down,
        }
    )
    samples = scrape(app.test_client())
    assert samples[("syncfarm_metrics_source_up", (("source", "store"),))] == 1
    assert samples[("syncfarm_metrics_source_up", (("source", "broker"),))] == 0
    assert samples[("syncfarm_metrics_source_up", (("source", "redis"),))] == 0
    assert samples[("syncfarm_runs", (("job_kind", "sync"), ("state", "queued")))] == 0


def test_with_a_metrics_token_only_a_scrape_that_presents_it_is_answered(
    store: Store, settings: Settings, redis_broker: RedisBroker, farm_redis: redis.Redis
) -> None:
    app = create_app(
        {
            "TESTING": True,
            "SYNCFARM_SETTINGS": replace(settings, metrics_token="s3cret-token"),
            "SYNCFARM_STORE": store,
            "SYNCFARM_BROKER": redis_broker,
            "SYNCFARM_REDIS": farm_redis,
        }
    )
    client = app.test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert "Bearer" in refused.headers["WWW-Authenticate"]
    assert b"syncfarm_runs" not in refused.data
    wrong = client.get("/metrics", headers={"Authorization": "Bearer s3cret-tokeN"})
    assert wrong.status_code == 401
    samples = scrape(client, {"Authorization": "Bearer s3cret-token"})
    assert samples[("syncfarm_metrics_source_up", (("source", "store"),))] == 1


def test_without_a_metrics_token_the_app_warns_that_metrics_are_open(
    store: Store, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    create_app({"TESTING": True, "SYNCFARM_SETTINGS": settings, "SYNCFARM_STORE": store})
    assert "SYNCFARM_METRICS_TOKEN" in caplog.text


def test_what_the_clean_up_deleted_is_counted(farm_client: Any, farm_redis: redis.Redis) -> None:
    farm_redis.hset(COUNTERS_KEY, mapping={"events": 120, "expired_changes": 3})
    samples = scrape(farm_client)
    deleted = "syncfarm_cleanup_deleted_total"
    assert samples[(deleted, (("kind", "events"),))] == 120
    assert samples[(deleted, (("kind", "expired_changes"),))] == 3
    assert samples[(deleted, (("kind", "runs"),))] == 0


@pytest.fixture
def silent_redis_port() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield server.getsockname()[1]
    server.close()


@pytest.mark.parametrize("redis_state", ["down", "hung"])
def test_a_scrape_answers_within_seconds_when_redis_is_down_or_hung(
    store: Store, settings: Settings, silent_redis_port: int, redis_state: str
) -> None:
    port = silent_redis_port if redis_state == "hung" else _closed_port()
    url = f"redis://127.0.0.1:{port}/0"
    app = create_app(
        {
            "TESTING": True,
            "SYNCFARM_SETTINGS": replace(settings, redis_url=url, broker_url=url),
            "SYNCFARM_STORE": store,
        }
    )
    started = time.monotonic()
    samples = scrape(app.test_client())
    # the web process's own clients, built from the settings: no retry loop, short timeouts
    assert time.monotonic() - started < 5
    assert samples[("syncfarm_metrics_source_up", (("source", "broker"),))] == 0
    assert samples[("syncfarm_metrics_source_up", (("source", "redis"),))] == 0
    assert samples[("syncfarm_metrics_source_up", (("source", "store"),))] == 1


def _closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port
