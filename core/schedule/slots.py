"""When a clock schedule fires: local wall-clock slots turned into UTC instants, DST included.

The rules, exact:
- a slot whose local time does not exist (the gap when clocks spring forward) fires once, at
  the first valid instant after the gap; several slots of one day in the same gap are one fire;
- a slot whose local time happens twice (clocks fall back) fires at its first occurrence;
- so a day's fires are a sorted list of distinct UTC instants.

Everything here is pure; the per-day fire lists are cached because a ticker asks for the same
few days of the same schedules over and over.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from core.schedule.rules import Rule, rule_for
from core.schedule.zones import load_zone

DAYS_AHEAD = 8
"""How many local days past `after`'s `next_fire` looks: with a weekday filter, a schedule that
fires at all fires within 7 days; one more covers a fire pushed past midnight by a gap."""


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC), got naive {moment}")


def local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a naive local wall-clock time fires at, by the DST rules above."""
    first = local.replace(tzinfo=zone).utcoffset()
    second = local.replace(tzinfo=zone, fold=1).utcoffset()
    assert first is not None and second is not None
    if first >= second:
        # Equal: an ordinary time. Greater: a repeated time, and fold=0 is its first occurrence.
        return (local - first).replace(tzinfo=UTC)
    return _end_of_gap(local - second, local - first, zone, before=first)


def _end_of_gap(
    earliest: datetime, latest: datetime, zone: ZoneInfo, *, before: timedelta
) -> datetime:
    """The transition instant (UTC) that opened the gap: the first valid instant after it.

    Reading the local time with the offset after the change gives an instant before the
    transition (`earliest`), with the offset before it an instant at or after it (`latest`);
    bisect on whole seconds (tz transitions are on whole seconds) for the first instant whose
    offset is no longer `before`. At most ~13 steps for a one-hour gap, once per cached day.
    """
    low, high = 0, int((latest - earliest).total_seconds())
    while high - low > 1:
        middle = (low + high) // 2
        moment = (earliest + timedelta(seconds=middle)).replace(tzinfo=UTC)
        if moment.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return (earliest + timedelta(seconds=high)).replace(tzinfo=UTC)


@lru_cache(maxsize=4096)
def _fires(rule: Rule, tz: str, day: date) -> tuple[datetime, ...]:
    """One local day's fires. Cached: ~56 bytes a fire, so a 15-minute schedule's day is ~5 kB;
    computing a day costs ~3 us a slot, and a cached `next_fire` ~3 us in all."""
    if day.weekday() not in rule.weekdays:
        return ()
    zone = load_zone(tz)
    midnight = datetime.combine(day, time())
    instants = {local_to_utc(midnight + timedelta(seconds=s), zone) for s in rule.seconds}
    return tuple(sorted(instants))


def fires_on_day(schedule: Mapping[str, Any], tz: str, day: date) -> list[datetime]:
    """The UTC instants at which `schedule` fires for slots of the local date `day` in `tz`.

    Sorted and distinct; empty for modes that do not fire by the clock and for days whose
    weekday is not allowed. `schedule` is `validate_schedule` output, `tz` an IANA zone name.
    """
    if isinstance(day, datetime):
        raise TypeError(f"day must be a date, not a datetime ({day!r})")
    rule = rule_for(schedule)
    if rule is None:
        return []
    return list(_fires(rule, tz, day))


def next_fire(schedule: Mapping[str, Any], tz: str, after: datetime) -> datetime | None:
    """The first fire strictly after `after` (tz-aware), in UTC; None if the schedule never fires.

    Looks day by day from the local date before `after`'s to DAYS_AHEAD days past it, each day a
    cached list, so it never walks minute by minute.
    """
    _require_aware(after, "after")
    rule = rule_for(schedule)
    if rule is None or not rule.fires_ever:
        return None
    after_utc = after.astimezone(UTC)
    today = after_utc.astimezone(load_zone(tz)).date()
    for offset in range(-1, DAYS_AHEAD + 1):
        fires = _fires(rule, tz, today + timedelta(days=offset))
        index = bisect_right(fires, after_utc)
        if index < len(fires):
            return fires[index]
    return None


def max_fires_per_day(schedule: Mapping[str, Any], tz: str) -> int:
    """The most fires any local day can have (for plan caps); 0 for non-clock modes.

    This is the count on an allowed day of a week without a DST change, where every slot that
    is not blacked out is its own fire. It does not depend on `tz` (which is still checked):
    a DST day can only merge slots (a gap) or keep the first of two occurrences (a repeat), never
    add a fire, so no day has more.
    """
    load_zone(tz)
    rule = rule_for(schedule)
    if rule is None or not rule.weekdays:
        return 0
    return len(rule.seconds)
