"""When a batch of events is due under an `automatic` schedule (pure; epoch milliseconds).

A burst of events becomes one run: the batch waits until no event has come for `debounce_s`,
but never longer than `max_wait_s` after its first event, and fires at once when it holds
`max_batch` events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def batch_due_at(
    schedule: Mapping[str, Any], *, first_at: int | None, last_at: int | None, count: int
) -> int | None:
    """When a batch of `count` events, the first received at `first_at` and the last at
    `last_at`, is due; None for an empty batch. A full batch is due when it filled up."""
    if count <= 0 or first_at is None or last_at is None:
        return None
    if count >= schedule["max_batch"]:
        return last_at
    quiet = last_at + round(schedule["debounce_s"] * 1000)
    capped = first_at + round(schedule["max_wait_s"] * 1000)
    return min(quiet, capped)
