"""Token buckets for the SP-API's usage plans, one per seller, app and operation.

Amazon limits each operation per selling partner and application, whichever host asks, so
with `redis_url` the buckets live in Redis (`token_bucket.lua`) and every worker of the farm
draws from the same one. Without Redis they live in this process (every connection of the
same seller in it shares them). A request that would wait longer than `max_wait_s` is not
made: `AmazonThrottled` says which limit stopped it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import redis

from plugins.amazon.errors import AmazonError, AmazonThrottled

KEY_PREFIX = "syncfarm:amazon:bucket"
LUA = Path(__file__).with_name("token_bucket.lua")


class Buckets(Protocol):
    def take(self, key: str, rate_per_s: float, burst: int) -> float:
        """Take a token from bucket `key`: 0 when taken, else the seconds until one is
        there (nothing is taken then)."""


class RedisBuckets:
    """Buckets in Redis, shared by every process that uses the same Redis database."""

    def __init__(self, client: redis.Redis) -> None:
        self._script = client.register_script(LUA.read_text())

    @classmethod
    def from_url(cls, url: str) -> RedisBuckets:
        return cls(redis.Redis.from_url(url))

    def take(self, key: str, rate_per_s: float, burst: int) -> float:
        try:
            wait_ms = self._script(keys=[key], args=[repr(rate_per_s), burst, 1])
        except redis.RedisError as exc:
            raise AmazonError(
                f"the shared rate limits in Redis cannot be read ({type(exc).__name__}); "
                "check that Redis is up",
                code="SYNCFARM_RATE_LIMITS",
                transient=True,
            ) from None
        return int(wait_ms) / 1000


class LocalBuckets:
    """Buckets in this process, for a farm without Redis (one worker process)."""

    _lock = threading.Lock()
    _buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, monotonic time)

    def take(self, key: str, rate_per_s: float, burst: int) -> float:
        with self._lock:
            now = time.monotonic()
            tokens, last = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + max(0.0, now - last) * rate_per_s)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate_per_s

    @classmethod
    def forget_all(cls) -> None:
        with cls._lock:
            cls._buckets.clear()


class RateLimiter:
    """Waits for a token of an operation's bucket before each request.

    `limits` maps operation → {rate_per_s, burst}; `seller_id` and `client_id` scope the
    buckets (the client id only as a hash); `sleep` is how to wait (tests pass their own).
    """

    def __init__(
        self,
        buckets: Buckets,
        limits: Mapping[str, Mapping[str, Any]],
        *,
        seller_id: str,
        client_id: str,
        max_wait_s: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.buckets = buckets
        self.limits = limits
        app = hashlib.sha256(client_id.encode()).hexdigest()[:12]
        self.prefix = f"{KEY_PREFIX}:{seller_id}:{app}"
        self.max_wait_s = max_wait_s
        self.sleep = sleep

    def key(self, operation: str) -> str:
        return f"{self.prefix}:{operation}"

    def acquire(self, operation: str) -> None:
        """Return once a request of `operation` may be made; raise `AmazonThrottled` when
        that would take longer than `max_wait_s`."""
        limit = self.limits[operation]
        rate, burst = float(limit["rate_per_s"]), int(limit["burst"])
        waited = 0.0
        while True:
            wait_s = self.buckets.take(self.key(operation), rate, burst)
            if wait_s <= 0:
                return
            if waited + wait_s > self.max_wait_s:
                raise AmazonThrottled(
                    f"Amazon's rate limit of {operation} ({rate:g}/s, burst {burst}) would "
                    f"keep this request waiting over max_wait_s ({self.max_wait_s:g} s); "
                    "the changes stay pending for the next run"
                )
            self.sleep(wait_s)
            waited += wait_s


def buckets_for(redis_url: str | None) -> Buckets:
    return RedisBuckets.from_url(redis_url) if redis_url else LocalBuckets()
