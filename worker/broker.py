"""The Dramatiq broker, chosen by the URL's scheme: redis:// (default) or amqp:// (RabbitMQ).

`stub://` gives Dramatiq's in-memory StubBroker for fast in-process tests.
"""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from core.config import Settings
from core.errors import ConfigError

RUNS_QUEUE = "runs"
RUN_ACTOR = "execute_run"


def build_broker(settings: Settings) -> dramatiq.Broker:
    url = settings.broker_url
    scheme = url.split(":", 1)[0]
    broker: dramatiq.Broker
    if scheme in ("redis", "rediss", "unix"):
        broker = RedisBroker(
            url=url,
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
