"""How long to wait before asking a feed's server again.

Failures (no connection, 5xx) wait exponentially longer: 1, 2, 4 … s capped at 30 s, each
with jitter (between half and all of it) so that many workers do not come back in step. A
`Retry-After` (seconds or an HTTP date) is honoured up to 120 s.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
RETRY_AFTER_CAP_S = 120.0


def backoff_s(failures: int, rand: Callable[[], float] = random.random) -> float:
    """The wait after the `failures`-th failure in a row (1 for the first)."""
    full = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(failures - 1, 0))
    return full * (0.5 + rand() / 2)


def retry_after_s(header: str | None, now: datetime | None = None) -> float | None:
    """The wait a `Retry-After` header asks for, between 0 and `RETRY_AFTER_CAP_S`; None when
    there is no header or it says nothing readable."""
    if not header or not header.strip():
        return None
    value = header.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_CAP_S)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    wait_s = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(wait_s, 0.0), RETRY_AFTER_CAP_S)
