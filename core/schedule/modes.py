"""The schedule modes, and how a job's `default` schedule resolves to its project's."""

from __future__ import annotations

from typing import Any

from core.errors import ScheduleError

MODES = ("default", "interval", "daily", "manual", "as_needed", "automatic")
CLOCK_MODES = frozenset({"interval", "daily"})
"""The modes that fire by the wall clock; the others fire by hand or by events (or never)."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names in `date.weekday()` order, so `WEEKDAYS.index(name)` is the weekday number."""


def effective_schedule(
    job_schedule: dict[str, Any], project_schedule: dict[str, Any]
) -> dict[str, Any]:
    """The schedule that actually drives a job: its own, or its project's when it says `default`.

    Both arguments are expected to be `validate_schedule` output. The dicts are returned as they
    are, not copied. A project's schedule cannot itself be `default` (there is nothing to defer to),
    so that is reported as a ScheduleError rather than silently never firing.
    """
    if job_schedule.get("mode") != "default":
        return job_schedule
    if project_schedule.get("mode") == "default":
        raise ScheduleError(
            "the project's schedule has mode 'default', which only a job may use; "
            "set the project's schedule to one of "
            + ", ".join(mode for mode in MODES if mode != "default"),
            errors={"schedule": {"mode": ["a project's schedule cannot be 'default'"]}},
        )
    return project_schedule
