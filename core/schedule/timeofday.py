"""Times of day as written in schedules ("HH:MM" or "HH:MM:SS"), held as seconds after midnight."""

from __future__ import annotations

import re

SECONDS_PER_DAY = 24 * 60 * 60

_TIME_OF_DAY = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?")


def parse_time_of_day(value: object) -> int:
    """Seconds after local midnight (0..86399) of a "HH:MM[:SS]" string; ValueError otherwise.

    Two-digit fields only, 00:00 to 23:59:59: "24:00" and "6:00" are refused so that a stored
    schedule has exactly one spelling of each time.
    """
    match = _TIME_OF_DAY.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"not a time of day HH:MM[:SS]: {value!r}")
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)


def format_time_of_day(seconds: int) -> str:
    """The stored spelling: "HH:MM", or "HH:MM:SS" when the seconds are not zero."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}" if secs else f"{hours:02d}:{minutes:02d}"
