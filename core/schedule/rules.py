"""A clock schedule reduced to what the slot math needs: its slots of the day and its weekdays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from core.schedule.modes import MODES, WEEKDAYS
from core.schedule.timeofday import SECONDS_PER_DAY, parse_time_of_day


@dataclass(frozen=True, eq=False)
class Rule:
    """The slots of a clock schedule, independent of any date or time zone.

    `seconds` are the slots' local wall-clock times as seconds after midnight, ascending, with
    blacked-out slots already removed (blackouts are wall-clock too, so they do not depend on the
    date). `weekdays` are the allowed `date.weekday()` numbers of the slot's local date.

    Compared by identity: `rule_for` hands out one instance per distinct schedule (while cached),
    which makes a Rule a cheap key for the per-day cache.
    """

    seconds: tuple[int, ...]
    weekdays: frozenset[int]

    @property
    def fires_ever(self) -> bool:
        return bool(self.seconds) and bool(self.weekdays)


def rule_for(schedule: Mapping[str, Any]) -> Rule | None:
    """The Rule of a validated clock schedule; None for modes that never fire by the clock.

    A `default` schedule is refused with ValueError: it must be resolved with
    `effective_schedule` first, and answering "never fires" would silently stop the job.
    """
    mode = schedule.get("mode")
    weekdays = tuple(schedule.get("weekdays", WEEKDAYS))
    if mode == "interval":
        windows = tuple((window["from"], window["to"]) for window in schedule.get("blackout", ()))
        return _interval_rule(schedule["every_minutes"], windows, weekdays)
    if mode == "daily":
        return _daily_rule(tuple(schedule["times"]), weekdays)
    if mode == "default":
        raise ValueError("a 'default' schedule must be resolved with effective_schedule first")
    if mode in MODES:
        return None
    raise ValueError(f"unknown schedule mode {mode!r}; expected one of {', '.join(MODES)}")


def _weekday_numbers(names: tuple[str, ...]) -> frozenset[int]:
    return frozenset(WEEKDAYS.index(name.lower()) for name in names)


def _blacked_out(second: int, windows: list[tuple[int, int]]) -> bool:
    for start, end in windows:
        inside = start <= second < end if start < end else second >= start or second < end
        if inside:
            return True
    return False


@lru_cache(maxsize=4096)
def _interval_rule(
    every_minutes: int, windows: tuple[tuple[str, str], ...], weekdays: tuple[str, ...]
) -> Rule:
    """Slots at every multiple of `every_minutes` from local midnight, restarting each day."""
    bounds = [(parse_time_of_day(start), parse_time_of_day(end)) for start, end in windows]
    slots = range(0, SECONDS_PER_DAY, every_minutes * 60)
    seconds = tuple(second for second in slots if not _blacked_out(second, bounds))
    return Rule(seconds=seconds, weekdays=_weekday_numbers(weekdays))


@lru_cache(maxsize=4096)
def _daily_rule(times: tuple[str, ...], weekdays: tuple[str, ...]) -> Rule:
    seconds = tuple(sorted({parse_time_of_day(text) for text in times}))
    return Rule(seconds=seconds, weekdays=_weekday_numbers(weekdays))
