"""Entry module for `dramatiq worker.app`: the broker, its middleware, then the actors."""

from __future__ import annotations

import dramatiq

from core import runs as runs_service
from worker import runtime
from worker.broker import build_broker, redis_client
from worker.middleware import ProjectMutex


def _mark_waiting(message: dramatiq.Message) -> None:
    runs_service.mark_waiting(runtime.store(), message.args[0])


def setup() -> dramatiq.Broker:
    settings = runtime.settings()
    broker = build_broker(settings)
    broker.add_middleware(
        ProjectMutex(
            client=redis_client(settings),
            lease_ttl_s=settings.lock_ttl_s,
            on_wait=_mark_waiting,
        )
    )
    dramatiq.set_broker(broker)
    return broker


broker = setup()

from worker import actors  # noqa: E402,F401  (actors bind to the broker set above)
