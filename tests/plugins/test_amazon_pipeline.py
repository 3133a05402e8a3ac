"""The Amazon channel inside a real run (in-process, against the fake SP-API): sent changes
wait as `sending`, the results run settles them, and what Amazon accepted shapes the next
send."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis

from core.config import Settings
from core.store import Store
from tests.conftest import redis_client, redis_url
from tests.core.shop import Shop
from tests.plugins.fake_spapi import (  # noqa: F401
    CLIENT_ID,
    CLIENT_SECRET,
    CONFLICT,
    FAST_LIMITS,
    MARKETPLACE,
    REFRESH_TOKEN,
    SELLER_ID,
    FakeSpApi,
    fake_spapi,
    fresh_amazon_caches,
)
from tests.plugins.fakes import add_connectors
from worker.actors import execute_run

DB = 8
HEADER = "sku,title,price,stock"


@pytest.fixture
def buckets_redis() -> Iterator[redis.Redis]:
    client = redis_client(DB)
    yield client
    client.flushdb()


@pytest.fixture
def shop(
    store: Store,
    settings: Settings,
    csv_feed: Path,
    broker: Any,
    monkeypatch: pytest.MonkeyPatch,
    buckets_redis: redis.Redis,
) -> Shop:
    add_connectors(monkeypatch, {"amazon": "plugins.amazon:AmazonChannel"})
    return Shop(store, replace(settings, redis_url=redis_url(DB)), csv_feed, broker, monkeypatch)


def connect_amazon(shop: Shop, fake: FakeSpApi) -> dict[str, Any]:
    settings = {
        "seller_id": SELLER_ID,
        "marketplace_ids": [MARKETPLACE],
        "endpoint": fake.url,
        "lwa_endpoint": f"{fake.url}/auth/o2/token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "rate_limits": FAST_LIMITS,
    }
    return shop.connect({"connector": "amazon", "role": "channel", "settings": settings})


def run_results(shop: Shop) -> dict[str, Any]:
    queued = [r for r in shop.store.runs.find({"trigger": "parent"}) if r["state"] == "queued"]
    assert len(queued) == 1
    execute_run.fn(queued[0]["_id"])
    return shop.store.runs.find_one({"_id": queued[0]["_id"]}) or {}


def test_a_sync_submits_a_feed_and_the_results_run_settles_each_record(
    shop: Shop, fake: FakeSpApi, buckets_redis: redis.Redis
) -> None:
    channel = connect_amazon(shop, fake)
    shop.write_feed(["A-1,Red shirt,19.90,3", "A-2,Blue shirt,21.50,4"], header=HEADER)
    fake.rejections["A-2"] = [CONFLICT]
    fake.in_progress_polls = 1

    run = shop.run()
    assert run["state"] == "succeeded", run.get("error")
    assert shop.stage(run, "send:amazon")["submitted"] == 2
    assert {d["ticket"] for d in shop.changes(channel, "sending").values()} == {"50001"}
    assert buckets_redis.keys("syncfarm:amazon:bucket:*")  # limits shared by every worker

    processing = run_results(shop)
    assert shop.stage(processing, "task:amazon.results")["count"] == 1
    assert len(shop.changes(channel, "sending")) == 2

    done = run_results(shop)
    assert shop.stage(done, "task:amazon.results")["count"] == 0
    assert set(shop.changes(channel, "done")) == {"A-1"}
    failed = shop.changes(channel, "failed")["A-2"]
    assert failed["last_error"] == {"code": "8541", "message": f"{CONFLICT[1]} (item_name)"}
    issue = shop.store.issues.find_one({"connection_id": channel["_id"]}) or {}
    assert (issue["key"], issue["code"]) == ("A-2", "8541")

    shop.write_feed(["A-1,Red shirt,19.90,1", "A-2,Blue shirt,21.50,4"], header=HEADER)
    shop.run()
    messages = {m["sku"]: m for m in fake.documents()[-1]["messages"]}
    assert list(messages) == ["A-1"]  # A-2 waits for its retry backoff
    assert messages["A-1"]["operationType"] == "PATCH"
    assert messages["A-1"]["patches"][0]["value"][0]["quantity"] == 1
