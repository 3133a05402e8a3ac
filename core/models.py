"""The stored states and kinds of the domain, as `str` enums (stored by value)."""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    QUEUED = "queued"
    WAITING = "waiting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    HELD = "held"
    SKIPPED = "skipped"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES


FINISHED_STATES = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.HELD, RunState.SKIPPED})
PENDING_STATES = frozenset({RunState.QUEUED, RunState.WAITING})


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    EVENT = "event"
    PARENT = "parent"
    CLEANUP = "cleanup"
    RETRY = "retry"


class JobKind(StrEnum):
    SYNC = "sync"
    FETCH = "fetch"
    SEND = "send"
    TASK = "task"
    INTEGRITY = "integrity"  # upgrade the project's stored documents (core.maintenance)


class ConnectionRole(StrEnum):
    SOURCE = "source"
    SECONDARY = "secondary"
    COMBINED = "combined"
    CHANNEL = "channel"
