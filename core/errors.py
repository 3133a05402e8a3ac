"""The error tree of syncfarm: every error the domain raises derives from SyncfarmError."""

from __future__ import annotations

from typing import Any


class SyncfarmError(Exception):
    """Base of every syncfarm error; `message` says what was wrong and what to do."""

    status = 500

    def __init__(self, message: str, *, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class ConfigError(SyncfarmError):
    """A setting from the environment is missing or malformed."""


class NotFound(SyncfarmError):
    status = 404


class Invalid(SyncfarmError):
    """Input that is well-formed but not acceptable (answered with 422)."""

    status = 422


class Conflict(SyncfarmError):
    status = 409


class BadSignature(SyncfarmError):
    """A webhook whose signature is missing or does not match its body (answered with 401)."""

    status = 401


class PlanLimitExceeded(Invalid):
    """The tenant's plan does not allow what was asked."""


class ScheduleError(Invalid):
    """A schedule that cannot be accepted as given."""


class ConnectorError(SyncfarmError):
    """A connector failed while working; the run records it as its error."""


class RunHeld(SyncfarmError):
    """A safety stop: the run would do something drastic (e.g. delete most of a catalog), so
    it ends `held` and changes nothing."""


class QueueUnavailable(SyncfarmError):
    """The broker could not take a run; nothing was queued."""

    status = 503
