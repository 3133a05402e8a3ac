"""The Dramatiq broker, chosen by the URL's scheme: redis:// (default) or amqp:// (RabbitMQ).

`stub://` gives Dramatiq's in-memory StubBroker for fast in-process tests.
"""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.config import Settings
from core.errors import ConfigError

RUNS_QUEUE = "runs"
RUN_ACTOR = "execute_run"


def build_broker(settings: Settings, *, timeout_s: float | None = None) -> dramatiq.Broker:
    """The broker; with `timeout_s`, a Redis broker's client gives up that fast (the web
    process: see `quick_redis_client`)."""
    url = settings.broker_url
    scheme = url.split(":", 1)[0]
    broker: dramatiq.Broker
    if scheme in ("redis", "rediss", "unix"):
        broker = RedisBroker(
            **({"client": quick_redis_client(url, timeout_s)} if timeout_s else {"url": url}),
            heartbeat_timeout=int(settings.worker_heartbeat_timeout_s * 1000),
            maintenance_chance=settings.broker_maintenance_chance,
        )
    elif scheme in ("amqp", "amqps"):
        broker = RabbitmqBroker(url=url)
    elif scheme == "stub":
        broker = StubBroker()
    else:
        raise ConfigError(
            f"SYNCFARM_BROKER_URL has scheme {scheme!r}; use redis://, amqp:// or stub://"
        )
    broker.declare_queue(RUNS_QUEUE)
    return broker


def redis_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url)


def quick_redis_client(url: str, timeout_s: float) -> redis.Redis:
    """A client for requests that must answer soon (web pages, `/metrics`): `timeout_s` to
    connect and for each reply, and one immediate retry after a connection error (a pooled
    connection Redis closed) instead of a retry loop with backoff, so a down or hung Redis
    costs a request about `timeout_s` per client."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
    )
