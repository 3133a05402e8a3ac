"""Automatic jobs: events batched on the job and fired by the ticker, at explicit times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker

from core.clock import from_ms, to_ms
from core.connections import create_connection
from core.errors import QueueUnavailable
from core.events import receive_event, signature
from core.jobs import create_job
from core.models import RunState, Trigger
from core.projects import create_project, update_project
from core.runs import claim_run, finish_run, start_run
from core.store import Store
from core.tenants import create_tenant
from cron.ticker import Ticker
from tests.conftest import redis_client

REDIS_DB = 11
T0 = to_ms(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))


@pytest.fixture
def redis() -> Any:
    client = redis_client(REDIS_DB)
    yield client
    client.flushdb()


class Shop:
    """A project with a source, and shortcuts to post events and tick at given times."""

    def __init__(self, store: Store, redis: Any, broker: StubBroker, tmp_path: Any) -> None:
        self.store = store
        self.broker = broker
        self.tenant, _ = create_tenant(store, "acme", plan="unlimited")
        self.project = create_project(store, self.tenant, {"name": "Shop"})
        feed = tmp_path / "feed.csv"
        feed.write_text("sku\nA-1\n")
        self.source = create_connection(
            store,
            self.project,
            {"connector": "feed", "role": "source", "settings": {"url": str(feed)}},
        )
        self.ticker = Ticker(store=store, client=redis, broker=broker)

    def job(self, **schedule: Any) -> dict[str, Any]:
        return create_job(
            self.store,
            self.tenant,
            self.project,
            {"kind": "sync", "schedule": {"mode": "automatic", **schedule}},
        )

    def event(self, at_s: float) -> list[str]:
        body = b'{"order": 1}'
        intake = receive_event(
            self.store,
            self.project["_id"],
            self.source["_id"],
            body,
            signature(self.source["webhook_secret"], body),
            now=T0 + round(at_s * 1000),
        )
        return intake.job_ids

    def tick(self, at_s: float) -> int:
        return self.ticker.tick(from_ms(T0 + round(at_s * 1000)))

    def work(self, *, finish: bool = True) -> list[str]:
        """Start the queued runs (and finish them), as a worker would."""
        queue = self.broker.queues["runs"]
        started = []
        while queue.qsize():
            run_id = Message.decode(queue.get_nowait()).args[0]
            start_run(self.store, run_id)
            if finish:
                finish_run(self.store, run_id, RunState.SUCCEEDED)
            started.append(run_id)
        return started

    def event_runs(self) -> list[dict[str, Any]]:
        return list(self.store.runs.find({"trigger": "event"}).sort("queued_at", 1))


@pytest.fixture
def shop(store: Store, redis: Any, broker: StubBroker, tmp_path: Any) -> Shop:
    return Shop(store, redis, broker, tmp_path)


def test_events_within_the_debounce_window_become_one_run(shop: Shop) -> None:
    job = shop.job(debounce_s=5, max_wait_s=60)
    for at_s in (0, 1, 2, 4):
        assert shop.event(at_s) == [job["_id"]]
    assert shop.tick(8.9) == 0  # 4.9 s since the last event
    assert shop.tick(9) == 1
    assert shop.tick(30) == 0
    runs = shop.event_runs()
    assert [(r["trigger"], r["event_count"]) for r in runs] == [("event", 4)]
    assert shop.store.events.count_documents({f"run_ids.{job['_id']}": runs[0]["_id"]}) == 4


def test_a_full_batch_fires_at_once(shop: Shop) -> None:
    shop.job(debounce_s=5, max_batch=3, max_wait_s=60)
    shop.event(0)
    shop.event(0.1)
    assert shop.tick(0.1) == 0
    shop.event(0.2)
    assert shop.tick(0.2) == 1
    assert [r["event_count"] for r in shop.event_runs()] == [3]


def test_max_wait_caps_a_continuous_stream(shop: Shop) -> None:
    job = shop.job(debounce_s=2, max_wait_s=10)
    for second in range(26):  # an event every second: the debounce never ends
        shop.event(second)
        shop.tick(second)
        shop.work()
    shop.tick(27)  # two quiet seconds after the last event
    runs = shop.event_runs()
    fired_at = [(r["queued_at"] - T0) // 1000 for r in runs]
    assert fired_at == [10, 21, 27]
    assert [r["event_count"] for r in runs] == [11, 11, 4]
    assert shop.store.events.count_documents({f"run_ids.{job['_id']}": None}) == 0


def test_a_batch_arriving_while_a_run_is_active_runs_right_after_it_finishes(
    shop: Shop,
) -> None:
    job = shop.job(debounce_s=5, max_wait_s=60)
    shop.event(0)
    assert shop.tick(5) == 1
    [first] = shop.work(finish=False)  # running now
    shop.event(6)
    shop.event(7)
    assert shop.tick(30) == 0  # kept for when the run ends
    finish_run(shop.store, first, RunState.SUCCEEDED)
    assert shop.tick(30) == 1
    runs = shop.event_runs()
    assert [r["event_count"] for r in runs] == [1, 2]
    assert shop.store.events.count_documents({}) == 3
    assert shop.store.events.count_documents({f"run_ids.{job['_id']}": None}) == 0


def test_a_batch_due_while_a_manual_run_waits_is_kept_and_runs_after_it(shop: Shop) -> None:
    job = shop.job(debounce_s=5, max_wait_s=60)
    shop.event(0)
    manual = claim_run(shop.store, job, Trigger.MANUAL)
    assert manual is not None
    assert shop.tick(5) == 0
    assert shop.tick(6) == 0
    assert shop.store.runs.count_documents({}) == 1
    start_run(shop.store, manual["_id"])
    assert finish_run(shop.store, manual["_id"], RunState.FAILED)  # the caller wakes the ticker
    assert shop.tick(6) == 1
    assert [r["event_count"] for r in shop.event_runs()] == [1]


def test_events_do_not_fire_jobs_that_are_not_automatic(shop: Shop) -> None:
    for schedule in ({"mode": "manual"}, {"mode": "interval", "every_minutes": 1440}):
        create_job(shop.store, shop.tenant, shop.project, {"kind": "fetch", "schedule": schedule})
    assert shop.event(0) == []
    assert shop.tick(60) == 0
    assert shop.store.runs.count_documents({}) == 0


def test_a_job_with_the_default_schedule_follows_an_automatic_project_schedule(
    shop: Shop,
) -> None:
    update_project(
        shop.store, shop.tenant, shop.project["_id"], {"schedule": {"mode": "automatic"}}
    )
    shop.project = shop.store.projects.find_one({"_id": shop.project["_id"]}) or {}
    job = create_job(shop.store, shop.tenant, shop.project, {"kind": "sync"})
    assert shop.event(0) == [job["_id"]]
    assert shop.tick(5) == 1  # the default debounce is 5 s


def test_a_paused_project_keeps_its_events_and_fires_them_once_when_resumed(
    shop: Shop,
) -> None:
    shop.job(debounce_s=5)
    update_project(shop.store, shop.tenant, shop.project["_id"], {"paused": True})
    shop.event(0)
    shop.event(1)
    assert shop.tick(100) == 0
    update_project(shop.store, shop.tenant, shop.project["_id"], {"paused": False})
    assert shop.tick(100) == 1
    assert [r["event_count"] for r in shop.event_runs()] == [2]


def test_a_batch_the_broker_refused_fires_when_it_is_back(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.job(debounce_s=5)
    shop.event(0)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Connection refused")

    monkeypatch.setattr(shop.broker, "enqueue", refuse)
    with pytest.raises(QueueUnavailable):
        shop.tick(5)
    assert shop.store.runs.count_documents({}) == 0
    monkeypatch.undo()
    shop.event(6)  # the batch is kept, and still debounced
    assert shop.tick(10) == 0
    assert shop.tick(11) == 1
    assert [r["event_count"] for r in shop.event_runs()] == [2]


def test_two_tickers_fire_a_due_batch_once(shop: Shop, redis: Any) -> None:
    shop.job(debounce_s=1)
    shop.event(0)
    other = Ticker(store=shop.store, client=redis, broker=shop.broker)
    at = from_ms(T0 + 1000)
    assert shop.ticker.tick(at) + other.tick(at) == 1
    assert shop.broker.queues["runs"].qsize() == 1


def test_over_nx27017_a_burst_is_batched_into_one_run_and_kept_while_it_runs(
    nx_store: Store, redis: Any, broker: StubBroker, tmp_path: Any
) -> None:
    shop = Shop(nx_store, redis, broker, tmp_path)
    job = shop.job(debounce_s=1, max_wait_s=10)
    for tenth in range(10):
        shop.event(tenth / 10)
    assert shop.tick(1.8) == 0 and shop.tick(1.9) == 1
    [running] = shop.work(finish=False)
    shop.event(2)
    finish_run(nx_store, running, RunState.SUCCEEDED)
    assert shop.tick(3) == 1
    assert [r["event_count"] for r in shop.event_runs()] == [10, 1]
    assert nx_store.events.count_documents({f"run_ids.{job['_id']}": None}) == 0


def test_an_automatic_job_gets_two_clean_up_runs_a_day_at_a_time_stable_per_project(
    store: Store, broker: Any
) -> None:
    from datetime import timedelta

    from core.clock import from_ms
    from core.jobs import create_job
    from core.projects import create_project
    from core.tenants import create_tenant
    from cron.ticker import Ticker
    from tests.conftest import redis_client

    tenant, _ = create_tenant(store, "acme", plan="unlimited")
    projects = [create_project(store, tenant, {"name": f"p{n}"}) for n in range(2)]
    jobs = [
        create_job(store, tenant, p, {"kind": "sync", "schedule": {"mode": "automatic"}})
        for p in projects
    ]
    jobs.sort(key=lambda j: j["cleanup_next_at"])
    first = [from_ms(j["cleanup_next_at"]) for j in jobs]
    assert first[0] != first[1]  # spread across projects
    ticker = Ticker(store=store, client=redis_client(11), broker=broker)
    assert ticker.clean_up(first[0] - timedelta(seconds=1)) == 0
    assert ticker.clean_up(first[0]) == 1
    run = store.runs.find_one({"job_id": jobs[0]["_id"]}) or {}
    assert run["trigger"] == "cleanup"
    moved = store.jobs.find_one({"_id": jobs[0]["_id"]}) or {}
    assert from_ms(moved["cleanup_next_at"]) == first[0] + timedelta(hours=12)


def test_a_clean_up_the_broker_refused_is_kept_for_when_it_is_back(
    store: Store, broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis as redis_module

    tenant, _ = create_tenant(store, "acme", plan="unlimited")
    project = create_project(store, tenant, {"name": "p"})
    job = create_job(store, tenant, project, {"kind": "sync", "schedule": {"mode": "automatic"}})
    due = from_ms(job["cleanup_next_at"])
    ticker = Ticker(store=store, client=redis_client(11), broker=broker)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise redis_module.ConnectionError("Connection refused")

    monkeypatch.setattr(broker, "enqueue", refuse)
    with pytest.raises(QueueUnavailable):
        ticker.clean_up(due)
    monkeypatch.undo()
    assert ticker.clean_up(due) == 1
