"""Amazon's usage plans as token buckets: shared through Redis by every worker, per seller."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from plugins.amazon.errors import AmazonThrottled
from plugins.amazon.ratelimit import LocalBuckets, RateLimiter, RedisBuckets
from tests.conftest import redis_client, redis_url
from tests.plugins.fake_spapi import (  # noqa: F401
    CLIENT_ID,
    FAST_LIMITS,
    SELLER_ID,
    FakeSpApi,
    Sleeps,
    fake_spapi,
    fresh_amazon_caches,
    insert,
    make_channel,
)

DB = 8


class RealSleeps(Sleeps):
    """Sleeps for real, and writes down each wait."""

    def __call__(self, seconds: float) -> None:
        super().__call__(seconds)
        time.sleep(seconds)


@pytest.fixture
def buckets_redis() -> Iterator[redis.Redis]:
    client = redis_client(DB)
    yield client
    client.flushdb()


def slow_feeds(rate_per_s: float, burst: int) -> dict[str, dict[str, float]]:
    return {**FAST_LIMITS, "createFeedDocument": {"rate_per_s": rate_per_s, "burst": burst}}


def test_two_connections_of_one_seller_share_one_bucket_in_redis(
    fake: FakeSpApi, tmp_path: Path, buckets_redis: redis.Redis
) -> None:
    limits = slow_feeds(rate_per_s=5.0, burst=2)
    waits_a, waits_b = RealSleeps(), RealSleeps()
    a = make_channel(fake.url, tmp_path, redis_url=redis_url(DB), rate_limits=limits, sleep=waits_a)
    b = make_channel(fake.url, tmp_path, redis_url=redis_url(DB), rate_limits=limits, sleep=waits_b)
    list(a.send([insert("A-1", title="T", price=1, stock=1)]))
    list(b.send([insert("B-1", title="T", price=1, stock=1)]))
    assert waits_a == [] and waits_b == []  # the burst of 2
    list(a.send([insert("A-2", title="T", price=1, stock=1)]))
    assert len(waits_a) == 1 and 0.05 < waits_a[0] <= 0.2  # 1 / 5 per second, less the refill
    key = a.api.limiter.key("createFeedDocument")
    assert key.startswith(f"syncfarm:amazon:bucket:{SELLER_ID}:")
    assert buckets_redis.exists(key)
    assert 0 < buckets_redis.pttl(key) <= 2000 / 5 + 1000


def test_a_bucket_emptied_by_another_host_makes_this_connection_wait(
    fake: FakeSpApi, tmp_path: Path, buckets_redis: redis.Redis
) -> None:
    limits = slow_feeds(rate_per_s=10.0, burst=3)
    waits = RealSleeps()
    channel = make_channel(
        fake.url, tmp_path, redis_url=redis_url(DB), rate_limits=limits, sleep=waits
    )
    elsewhere = RedisBuckets(redis.Redis.from_url(redis_url(DB)))
    key = channel.api.limiter.key("createFeedDocument")
    assert [elsewhere.take(key, 10.0, 3) for _ in range(3)] == [0, 0, 0]
    list(channel.send([insert("A-1", title="T", price=1, stock=1)]))
    assert len(waits) == 1 and 0 < waits[0] <= 0.1


def test_another_seller_has_a_bucket_of_its_own(
    fake: FakeSpApi, tmp_path: Path, buckets_redis: redis.Redis
) -> None:
    limits = slow_feeds(rate_per_s=0.01, burst=1)
    waits = Sleeps()
    shared = {"redis_url": redis_url(DB), "rate_limits": limits, "max_wait_s": 0}
    list(
        make_channel(fake.url, tmp_path, **shared).send(
            [insert("A-1", title="T", price=1, stock=1)]
        )
    )
    other = make_channel(fake.url, tmp_path, seller_id="A2OTHER", sleep=waits, **shared)
    results = list(other.send([insert("B-1", title="T", price=1, stock=1)]))
    assert results[0].ticket and waits == []
    same = make_channel(fake.url, tmp_path, **shared)
    with pytest.raises(AmazonThrottled, match="createFeedDocument"):
        list(same.send([insert("A-2", title="T", price=1, stock=1)]))


def test_the_redis_bucket_refills_at_its_rate_up_to_its_burst(
    buckets_redis: redis.Redis,
) -> None:
    buckets = RedisBuckets(buckets_redis)
    assert [buckets.take("bucket:t", 20.0, 2) for _ in range(2)] == [0, 0]
    wait_s = buckets.take("bucket:t", 20.0, 2)
    assert 0.03 < wait_s <= 0.05
    time.sleep(0.25)  # long enough for 5 tokens, but the burst holds 2
    assert [buckets.take("bucket:t", 20.0, 2) for _ in range(2)] == [0, 0]
    assert buckets.take("bucket:t", 20.0, 2) > 0


def test_without_redis_connections_in_one_process_share_a_bucket(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    limits = slow_feeds(rate_per_s=0.01, burst=1)
    a = make_channel(fake.url, tmp_path, rate_limits=limits, max_wait_s=0)
    b = make_channel(fake.url, tmp_path, rate_limits=limits, max_wait_s=0)
    assert isinstance(a.api.limiter.buckets, LocalBuckets)
    list(a.send([insert("A-1", title="T", price=1, stock=1)]))
    with pytest.raises(AmazonThrottled):
        list(b.send([insert("B-1", title="T", price=1, stock=1)]))


def test_a_wait_within_max_wait_s_is_slept_and_a_longer_one_refused() -> None:
    waits = Sleeps()
    limits = {"getFeed": {"rate_per_s": 0.5, "burst": 1}}
    limiter = RateLimiter(
        LocalBuckets(), limits, seller_id="S", client_id=CLIENT_ID, max_wait_s=3, sleep=waits
    )
    limiter.acquire("getFeed")
    with pytest.raises(AmazonThrottled, match=r"getFeed \(0.5/s, burst 1\)"):
        limiter.acquire("getFeed")  # fake sleeps: the bucket never refills, 2 + 2 > 3
    assert len(waits) == 1 and 1.9 < waits[0] <= 2.0
