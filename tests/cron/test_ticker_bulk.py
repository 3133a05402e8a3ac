"""The ticker fires a batch of due jobs in bulk and sends their runs; a broker that refuses
part-way loses none of the batch's slots."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker

from core.clock import from_ms
from core.errors import QueueUnavailable
from core.jobs import create_job
from core.models import Trigger
from core.projects import create_project
from core.slots import SlotFire, fire_slots
from core.store import Store
from core.tenants import create_tenant
from cron.ticker import Ticker
from tests.conftest import redis_client

REDIS_DB = 3


@pytest.fixture
def redis() -> Any:
    client = redis_client(REDIS_DB)
    yield client
    client.flushdb()


def _jobs(store: Store, projects: int) -> list[dict[str, Any]]:
    tenant, _ = create_tenant(store, "acme", plan="unlimited")
    jobs = []
    for i in range(projects):
        project = create_project(store, tenant, {"name": f"Shop {i}", "timezone": "UTC"})
        schedule = {"mode": "daily", "times": ["06:00"]}
        jobs.append(create_job(store, tenant, project, {"kind": "sync", "schedule": schedule}))
    return jobs


def test_jobs_due_together_each_fire_once(store: Store, redis: Any, broker: StubBroker) -> None:
    jobs = _jobs(store, 5)
    ticker = Ticker(store=store, client=redis, broker=broker)
    due = from_ms(max(job["next_fire_at"] for job in jobs))
    assert ticker.tick(due) == 5
    assert ticker.tick(due) == 0
    assert broker.queues["runs"].qsize() == 5
    for job in jobs:
        assert store.runs.count_documents({"job_id": job["_id"]}) == 1


def test_a_broker_refusing_mid_batch_keeps_every_unsent_slot_due(
    store: Store, redis: Any, broker: StubBroker, monkeypatch: Any
) -> None:
    jobs = _jobs(store, 4)
    ticker = Ticker(store=store, client=redis, broker=broker)
    due = from_ms(max(job["next_fire_at"] for job in jobs))
    sent: list[Any] = []
    enqueue = broker.enqueue

    def refuse_after_two(message: Any, *, delay: int | None = None) -> Any:
        if len(sent) == 2:
            raise ConnectionError("Connection refused")
        sent.append(message)
        return enqueue(message, delay=delay)

    monkeypatch.setattr(broker, "enqueue", refuse_after_two)
    with pytest.raises(QueueUnavailable):
        ticker.tick(due)
    assert store.runs.count_documents({}) == 2  # the unsent runs are undone
    still_due = store.jobs.count_documents(
        {"next_fire_at": {"$lte": max(j["next_fire_at"] for j in jobs)}}
    )
    assert still_due == 2
    monkeypatch.undo()
    assert ticker.tick(due) == 2
    assert broker.queues["runs"].qsize() == 4
    for job in jobs:
        assert store.runs.count_documents({"job_id": job["_id"]}) == 1


def test_a_new_leader_sends_the_runs_a_killed_leader_claimed_but_never_sent(
    store: Store, redis: Any, broker: StubBroker
) -> None:
    jobs = _jobs(store, 3)
    due = max(job["next_fire_at"] for job in jobs)
    # the old leader claimed the batch (slots moved on), then died before sending anything
    fires = [SlotFire(job, due + 86_400_000) for job in jobs]
    claimed = fire_slots(store, fires, Trigger.SCHEDULE, now=due)
    assert len(claimed) == 3 and broker.queues["runs"].qsize() == 0

    leader = Ticker(store=store, client=redis, broker=broker, clock=lambda: from_ms(due))
    leader._lead_once()
    assert broker.queues["runs"].qsize() == 3
    leader._lead_once()  # still leading: nothing is sent again
    assert broker.queues["runs"].qsize() == 3
    assert store.runs.count_documents({}) == 3


def test_a_job_whose_next_slot_cannot_be_worked_out_does_not_stop_the_others(
    store: Store, redis: Any, broker: StubBroker
) -> None:
    """One job the schedule code fails on (here its project's timezone is unknown to this
    host's tz database) must not stop every other job of the farm from firing: each tick
    would raise on it first, for ever."""
    jobs = _jobs(store, 3)
    store.projects.update_one({"_id": jobs[0]["project_id"]}, {"$set": {"timezone": "Mars/Base"}})
    ticker = Ticker(store=store, client=redis, broker=broker)
    due = from_ms(max(job["next_fire_at"] for job in jobs))

    assert ticker.tick(due) == 3  # the bad job's due slot fires too
    assert broker.queues["runs"].qsize() == 3
    bad = store.jobs.find_one({"_id": jobs[0]["_id"]}) or {}
    assert bad["next_fire_at"] is None  # taken off the due list, not fired on every tick
    assert ticker.tick(due) == 0


def test_an_unexpected_error_in_a_pass_does_not_end_the_ticker(
    store: Store, redis: Any, broker: StubBroker
) -> None:
    (job,) = _jobs(store, 1)
    ticker = Ticker(
        store=store,
        client=redis,
        broker=broker,
        lease_s=1,
        poll_s=0.1,
        clock=lambda: from_ms(job["next_fire_at"]),
    )
    real_tick = ticker.tick
    failures = []

    def tick_failing_once(now: Any = None) -> int:
        if not failures:
            failures.append(1)
            raise RuntimeError("a bug")
        return real_tick(now)

    ticker.tick = tick_failing_once  # type: ignore[method-assign]
    thread = threading.Thread(target=ticker.run_forever, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while broker.queues["runs"].qsize() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert thread.is_alive()
        assert broker.queues["runs"].qsize() == 1  # it went on leading and fired the job
    finally:
        ticker.stop()
        thread.join(5)
    assert not thread.is_alive()
