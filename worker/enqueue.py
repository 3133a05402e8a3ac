"""Sending a run to the workers. Web, cron and the CLI share this, without importing actors."""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq import Message

from worker.broker import RUN_ACTOR, RUNS_QUEUE


def enqueue_run(broker: dramatiq.Broker, run: dict[str, Any]) -> None:
    """Put the run's message on the runs queue; the project id drives the project mutex."""
    broker.enqueue(
        Message(
            queue_name=RUNS_QUEUE,
            actor_name=RUN_ACTOR,
            args=(run["_id"],),
            kwargs={},
            options={"project_id": run["project_id"]},
        )
    )
