"""The one place that reads the time.

Stored timestamps are integers: milliseconds since the Unix epoch, UTC. Integers compare, sort
and survive every update the same way in MongoDB, nx-27017 and mongomock (nx-27017 turns a
datetime written by a top-level `$set` into a string); the API shows them as ISO 8601.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, truncated to milliseconds (the precision timestamps are stored with)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("a stored time must be timezone-aware")
    return int(round(moment.timestamp() * 1000))


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def now_ms() -> int:
    return to_ms(utcnow())
