"""How rules read record values: as numbers (decimal.Decimal) and as text.

Records come from feeds, so a price is usually the string "19.90". A value is a number when it
is an int, a finite float, or a plain decimal string ("19.90", "-3", " 5 ", ".5"); thousands
separators, decimal commas, exponents and units ("19.90 EUR") are not numbers. Missing, null and
"" are absent. Numbers of 10**30 or more are treated as not numbers: no price or stock count is
that large, and the cap keeps the arithmetic cheap.
"""

from __future__ import annotations

import decimal
import math
from decimal import Decimal
from typing import Any

MAX_NUMBER_CHARS = 64
MAX_INTEGER_DIGITS = 30
MAX_OUTPUT_DECIMALS = 20
"""An unrounded result keeps at most this many decimal places (10/3 gives 20 threes)."""

CONTEXT = decimal.Context(
    prec=50,
    rounding=decimal.ROUND_HALF_UP,
    Emax=9_999,
    Emin=-9_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
"""The context of every calculation: trapped conditions raise decimal.DecimalException, which
the callers turn into an absent result. Its flags are shared and never read."""

_DIGITS = frozenset("0123456789")
_LIMIT = 10**MAX_INTEGER_DIGITS


def _is_digits(text: str) -> bool:
    return all(char in _DIGITS for char in text)


def to_number(value: Any) -> Decimal | None:
    """`value` as a Decimal, or None when it is absent or not a number (see the module doc)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value) if -_LIMIT < value < _LIMIT else None
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) >= _LIMIT:
            return None
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        return value if value.is_finite() and abs(value) < _LIMIT else None
    if not isinstance(value, str) or len(value) > MAX_NUMBER_CHARS:
        return None
    text = value.strip()
    body = text[1:] if text[:1] in ("+", "-") else text
    whole, _, fraction = body.partition(".")
    if not (whole or fraction) or not _is_digits(whole) or not _is_digits(fraction):
        return None
    number = Decimal(text)
    return number if abs(number) < _LIMIT else None


def as_text(value: Any) -> str | None:
    """`value` as text for comparing, mapping and joining; None when absent.

    Numbers are written out in full (1e20 as "100000000000000000000"), booleans as "true" and
    "false"; lists and objects have no text and count as absent.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # past sys.get_int_max_str_digits(): no feed holds such a number
            return None
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f") if math.isfinite(value) else None
    return None


def is_empty(value: Any) -> bool:
    """Missing, null, blank text, or an empty list or object."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict | tuple):
        return not value
    return False


def format_number(number: Decimal) -> str:
    """A result as the string a record holds: no exponent, no "-0", at most 20 decimals."""
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_OUTPUT_DECIMALS:
        number = number.quantize(Decimal(1).scaleb(-MAX_OUTPUT_DECIMALS), context=CONTEXT)
    if not number:
        number = number.copy_abs()
    return format(number, "f")


def in_range(number: Decimal) -> bool:
    """Whether a computed result is still a number by the module's definition."""
    return number.is_finite() and abs(number) < _LIMIT
