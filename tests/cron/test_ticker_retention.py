"""The leading ticker's clean-up duty: retention and expiry of stuck `sending` changes
(mongomock store, Redis db 2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker

from core.clock import now_ms
from core.retention import COUNTERS_KEY, DAY_MS, RetentionPolicy
from core.store import Store
from cron.ticker import Ticker
from tests.conftest import redis_client

REDIS_DB = 2
HOUR_MS = 3600 * 1000


@pytest.fixture
def redis() -> Iterator[Any]:
    client = redis_client(REDIS_DB)
    yield client
    client.flushdb()
    client.close()


def _farm_with_old_things(store: Store) -> None:
    now = now_ms()
    store.projects.insert_one({"_id": "prj_1"})
    store.events.insert_many(
        [
            {"_id": f"evt_{n}", "project_id": "prj_1", "received_at": now - (8 + n) * DAY_MS}
            for n in range(3)
        ]
    )
    store.runs.insert_many(
        [
            {
                "_id": f"run_{n}",
                "project_id": "prj_1",
                "job_id": "job_1",
                "state": "succeeded",
                "queued_at": now - (40 - n) * DAY_MS,
            }
            for n in range(3)
        ]
    )
    store.connections.insert_one({"_id": "con_shop", "project_id": "prj_1"})
    store.changes.insert_one(
        {
            "_id": "con_shop:sku1",
            "project_id": "prj_1",
            "connection_id": "con_shop",
            "key": "sku1",
            "state": "sending",
            "sent_at": now - 7 * HOUR_MS,
        }
    )


def _ticker(store: Store, redis: Any, broker: StubBroker, **kw: Any) -> Ticker:
    return Ticker(
        store=store,
        client=redis,
        broker=broker,
        retention=RetentionPolicy(event_days=7, run_days=30),
        sending_expiry_s=6 * 3600,
        **kw,
    )


def test_the_leading_ticker_deletes_old_events_and_runs_and_fails_stuck_changes(
    store: Store, redis: Any, broker: StubBroker
) -> None:
    _farm_with_old_things(store)
    ticker = _ticker(store, redis, broker)
    ticker._lead_once()
    assert store.events.count_documents({}) == 0
    assert [run["_id"] for run in store.runs.find()] == ["run_2"]  # the job's last run
    change = store.changes.find_one({"_id": "con_shop:sku1"})
    assert change is not None and change["state"] == "failed"
    counts = {k.decode(): int(v) for k, v in redis.hgetall(COUNTERS_KEY).items()}
    assert counts == {"events": 3, "runs": 2, "expired_changes": 1}


def test_the_clean_up_waits_its_interval_between_passes(
    store: Store, redis: Any, broker: StubBroker
) -> None:
    ticker = _ticker(store, redis, broker, hygiene_every_s=600)
    ticker._lead_once()
    _farm_with_old_things(store)
    ticker._lead_once()
    assert store.events.count_documents({}) == 3  # next pass in ten minutes
    ticker._next_hygiene = 0.0  # ten minutes later
    ticker._lead_once()
    assert store.events.count_documents({}) == 0


def test_a_standby_ticker_deletes_nothing(store: Store, redis: Any, broker: StubBroker) -> None:
    _farm_with_old_things(store)
    leader = Ticker(store=store, client=redis, broker=broker)
    assert leader.lease.acquire_or_renew()
    standby = _ticker(store, redis, broker, holder="standby")
    standby._lead_once()
    assert store.events.count_documents({}) == 3
    leader.lease.release()


def test_a_failing_clean_up_does_not_stop_the_ticker(
    store: Store, redis: Any, broker: StubBroker, caplog: pytest.LogCaptureFixture
) -> None:
    store.projects.insert_one({"_id": "prj_1"})
    # a run without its job_id: a document that the clean-up cannot handle
    store.runs.insert_one(
        {"_id": "run_x", "project_id": "prj_1", "state": "failed", "queued_at": 1}
    )
    ticker = _ticker(store, redis, broker)
    ticker._lead_once()
    assert "clean-up pass failed" in caplog.text
    assert ticker._next_hygiene > 0
