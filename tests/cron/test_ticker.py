from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker

from core.clock import from_ms, now_ms, to_ms
from core.jobs import create_job
from core.models import Trigger
from core.projects import create_project
from core.runs import claim_run
from core.store import Store
from core.tenants import create_tenant
from cron.leader import LeaderLease
from cron.ticker import Ticker
from cron.wake import wake_ticker
from tests.conftest import redis_client

REDIS_DB = 11


@pytest.fixture
def redis() -> Any:
    client = redis_client(REDIS_DB)
    yield client
    client.flushdb()


@pytest.fixture
def project(store: Store) -> dict[str, Any]:
    tenant, _ = create_tenant(store, "acme", plan="unlimited")
    return create_project(store, tenant, {"name": "Shop", "timezone": "Europe/Berlin"})


def _ticker(store: Store, redis: Any, broker: StubBroker, **kw: Any) -> Ticker:
    return Ticker(store=store, client=redis, broker=broker, **kw)


def _daily_job(store: Store, project: dict[str, Any]) -> dict[str, Any]:
    tenant = store.tenants.find_one({"_id": project["tenant_id"]})
    assert tenant is not None
    return create_job(
        store, tenant, project, {"kind": "sync", "schedule": {"mode": "daily", "times": ["06:00"]}}
    )


def test_a_due_slot_fires_exactly_once_even_with_two_tickers(
    store: Store, redis: Any, broker: StubBroker, project: dict[str, Any]
) -> None:
    job = _daily_job(store, project)
    due = from_ms(job["next_fire_at"])
    first, second = _ticker(store, redis, broker), _ticker(store, redis, broker)
    at = due + timedelta(seconds=1)
    assert first.tick(at) + second.tick(at) == 1
    assert broker.queues["runs"].qsize() == 1
    assert store.runs.count_documents({"job_id": job["_id"], "trigger": "schedule"}) == 1
    moved = store.jobs.find_one({"_id": job["_id"]}) or {}
    assert moved["next_fire_at"] == to_ms(due + timedelta(days=1))


def test_after_downtime_an_overdue_job_fires_once_not_once_per_missed_slot(
    store: Store, redis: Any, broker: StubBroker, project: dict[str, Any]
) -> None:
    job = _daily_job(store, project)
    three_days_later = from_ms(job["next_fire_at"]) + timedelta(days=3, hours=1)
    ticker = _ticker(store, redis, broker)
    assert ticker.tick(three_days_later) == 1
    assert ticker.tick(three_days_later) == 0
    moved = store.jobs.find_one({"_id": job["_id"]}) or {}
    assert moved["next_fire_at"] > to_ms(three_days_later)


def test_a_fire_while_the_previous_run_is_active_is_coalesced(
    store: Store, redis: Any, broker: StubBroker, project: dict[str, Any]
) -> None:
    job = _daily_job(store, project)
    waiting = claim_run(store, job, Trigger.MANUAL)
    assert waiting is not None
    ticker = _ticker(store, redis, broker)
    assert ticker.tick(from_ms(job["next_fire_at"])) == 0
    assert store.runs.count_documents({"job_id": job["_id"]}) == 1
    assert (store.runs.find_one({"_id": waiting["_id"]}) or {})["coalesced_fires"] == 1
    assert (store.jobs.find_one({"_id": job["_id"]}) or {})["coalesced_fires"] == 1


def test_a_paused_projects_jobs_do_not_fire(
    store: Store, redis: Any, broker: StubBroker, project: dict[str, Any]
) -> None:
    from core.projects import update_project

    job = _daily_job(store, project)
    tenant = store.tenants.find_one({"_id": project["tenant_id"]})
    update_project(store, tenant or {}, project["_id"], {"paused": True})
    assert _ticker(store, redis, broker).tick(from_ms(job["next_fire_at"]) + timedelta(days=2)) == 0


def test_only_one_ticker_leads_and_a_standby_takes_over_when_the_lease_lapses(
    redis: Any,
) -> None:
    leader = LeaderLease(client=redis, ttl_s=0.5, holder="a")
    standby = LeaderLease(client=redis, ttl_s=0.5, holder="b")
    assert leader.acquire_or_renew() and not standby.acquire_or_renew()
    assert leader.acquire_or_renew()  # renewing keeps it
    time.sleep(0.7)  # the leader stops renewing (it died)
    assert standby.acquire_or_renew()
    assert not leader.acquire_or_renew()
    assert standby.current_leader() == standby.token


def test_a_woken_ticker_fires_a_new_due_job_at_once(
    store: Store, redis: Any, broker: StubBroker, project: dict[str, Any]
) -> None:
    ticker = _ticker(store, redis, broker, lease_s=60, poll_s=30)
    thread = threading.Thread(target=ticker.run_forever, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # the ticker is asleep now, with nothing due
        job = _daily_job(store, project)
        store.jobs.update_one({"_id": job["_id"]}, {"$set": {"next_fire_at": now_ms()}})
        woken_at = time.monotonic()
        wake_ticker(redis)
        while broker.queues["runs"].qsize() == 0 and time.monotonic() - woken_at < 5:
            time.sleep(0.02)
        assert broker.queues["runs"].qsize() == 1
        assert time.monotonic() - woken_at < 1.0
    finally:
        ticker.stop()
        thread.join(5)


def test_a_fire_the_broker_refused_is_kept_and_fires_when_it_is_back(
    store: Store, redis: Any, broker: StubBroker, project: dict[str, Any], monkeypatch: Any
) -> None:
    import redis as redis_module

    from core.errors import QueueUnavailable

    job = _daily_job(store, project)
    due = from_ms(job["next_fire_at"])
    ticker = _ticker(store, redis, broker)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise redis_module.ConnectionError("Connection refused")

    monkeypatch.setattr(broker, "enqueue", refuse)
    with pytest.raises(QueueUnavailable):
        ticker.tick(due)
    assert store.runs.count_documents({}) == 0
    monkeypatch.undo()
    assert ticker.tick(due + timedelta(seconds=5)) == 1
    assert broker.queues["runs"].qsize() == 1


def test_a_run_whose_message_was_lost_is_sent_again_once(
    store: Store, redis: Any, broker: StubBroker, project: dict[str, Any]
) -> None:
    job = _daily_job(store, project)
    lost = claim_run(store, job, Trigger.MANUAL, now=now_ms() - 3_600_000)
    assert lost is not None  # claimed an hour ago, its message never sent
    ticker = _ticker(store, redis, broker, resend_after_s=600)
    assert ticker.resend_stale_runs() == 1
    assert ticker.resend_stale_runs() == 0
    assert broker.queues["runs"].qsize() == 1


def test_the_ticker_waits_out_a_redis_outage_instead_of_dying(
    store: Store, broker: StubBroker
) -> None:
    import redis as redis_module

    from tests.conftest import free_port

    unreachable = redis_module.Redis(port=free_port(), socket_connect_timeout=0.2, retry=None)
    ticker = Ticker(store=store, client=unreachable, broker=broker, lease_s=3, poll_s=1)
    thread = threading.Thread(target=ticker.run_forever, daemon=True)
    thread.start()
    time.sleep(1.5)
    assert thread.is_alive()
    ticker.stop()
    thread.join(5)
    assert not thread.is_alive()


def test_failed_changes_are_retried_on_their_own_once_their_backoff_passed(
    store: Store, redis: Any, broker: StubBroker, project: dict[str, Any]
) -> None:
    from core.connections import create_connection

    channel = create_connection(store, project, {"connector": "file", "role": "channel"})
    store.changes.insert_one(
        {
            "_id": f"{channel['_id']}:A-1",
            "project_id": project["_id"],
            "connection_id": channel["_id"],
            "key": "A-1",
            "op": "insert",
            "state": "failed",
            "next_attempt_at": now_ms() + 60_000,
        }
    )
    ticker = _ticker(store, redis, broker)
    assert ticker.retry_failed_changes() == 0
    later = from_ms(now_ms() + 61_000)
    assert ticker.retry_failed_changes(later) == 1
    run = store.runs.find_one({"trigger": "retry"}) or {}
    assert run["job_kind"] == "send" and broker.queues["runs"].qsize() == 1
    assert ticker.retry_failed_changes(later) == 0  # that run is still waiting: coalesced
