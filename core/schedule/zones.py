"""IANA time zones: checking a name a user gave, and loading zones for the schedule math."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from core.errors import ScheduleError

_NOT_PROJECT_ZONES = frozenset({"localtime", "Factory"})
"""Names the tz database answers to that do not name a place: `localtime` is whatever the host
is set to (so the same project would fire differently on another machine), `Factory` is a
placeholder with no offset."""


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    """Every usable zone name (the tz database is read once; that takes ~0.1 s)."""
    return frozenset(available_timezones() - _NOT_PROJECT_ZONES)


@lru_cache(maxsize=1)
def _by_lowercase() -> dict[str, str]:
    return {name.lower(): name for name in _known_zones()}


def validate_timezone(name: object) -> str:
    """`name` if it is an IANA zone name this host knows (e.g. "Europe/Berlin"); else ScheduleError.

    Names are case-sensitive, as in the tz database; a wrong case gets a suggestion, not a
    silent correction, so the stored name is the one the user sees.
    """
    if isinstance(name, str) and name in _known_zones():
        return name
    message = f"timezone must be an IANA time zone name such as 'Europe/Berlin', got {name!r}"
    if isinstance(name, str) and name.lower() in _by_lowercase():
        message += f"; did you mean {_by_lowercase()[name.lower()]!r}?"
    raise ScheduleError(message, errors={"timezone": [message]})


@lru_cache(maxsize=1024)
def load_zone(name: str) -> ZoneInfo:
    """The zone for a stored name; ZoneInfoNotFoundError (a KeyError) if this host lacks it."""
    return ZoneInfo(name)
