"""Schedules: validating them and computing when they fire, as pure functions (no I/O).

A schedule is a JSON dict with a `mode` (see MODES). `interval` and `daily` fire by the local
wall clock of the project's IANA time zone; the other modes fire by hand or by events. All
datetimes in and out are tz-aware UTC.
"""

from __future__ import annotations

from core.schedule.batching import batch_due_at
from core.schedule.modes import CLOCK_MODES, MODES, WEEKDAYS, effective_schedule
from core.schedule.schema import validate_schedule
from core.schedule.slots import fires_on_day, max_fires_per_day, next_fire
from core.schedule.zones import validate_timezone

__all__ = [
    "CLOCK_MODES",
    "MODES",
    "WEEKDAYS",
    "batch_due_at",
    "effective_schedule",
    "fires_on_day",
    "max_fires_per_day",
    "next_fire",
    "validate_schedule",
    "validate_timezone",
]
