"""Sending a run to the workers. Web, cron and the CLI share this, without importing actors."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from dramatiq import Message

from core import runs as runs_service
from core.errors import QueueUnavailable
from core.store import Store
from worker.broker import RUN_ACTOR, RUNS_QUEUE

log = logging.getLogger(__name__)


def enqueue_run(
    broker: dramatiq.Broker, run: dict[str, Any], *, delay_ms: int | None = None
) -> None:
    """Put the run's message on the runs queue (after `delay_ms`, if given); the project id
    drives the project mutex."""
    broker.enqueue(
        Message(
            queue_name=RUNS_QUEUE,
            actor_name=RUN_ACTOR,
            args=(run["_id"],),
            kwargs={},
            options={"project_id": run["project_id"]},
        ),
        delay=delay_ms,
    )


def submit_run(
    store: Store, broker: dramatiq.Broker, run: dict[str, Any], delay_ms: int | None = None
) -> None:
    """Send a freshly claimed run; if the broker refuses it, undo the claim and say so."""
    try:
        enqueue_run(broker, run, delay_ms=delay_ms)
    except Exception as exc:
        log.warning("could not queue run %s: %s", run["_id"], exc)
        runs_service.abandon_run(store, run)
        raise QueueUnavailable(
            f"the run queue is unavailable ({type(exc).__name__}); nothing was queued, "
            "try again shortly"
        ) from exc
