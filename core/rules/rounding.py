"""Rounding a calculated number to what a channel shows: a number of decimals, or a price ending.

    ROUND := {"decimals": 0..10, "mode": "half_up" | "down" | "up"}
           | {"ending": ".99", "mode": "keep_whole" | "half_up" | "down" | "up"}

Modes work on the amount without its sign, like decimal's ROUND_HALF_UP, ROUND_DOWN and
ROUND_UP: on a (positive) price, `down` never raises it and `up` never lowers it.

With `decimals` the default mode is `half_up`: 24.385 → "24.39" at 2 decimals.

With `ending` (a "." and 1 to 4 digits), the result is a whole number plus the ending, written
with the ending's decimals. The default mode `keep_whole` is charm pricing: keep the whole part
and replace the decimals (24.10 → "24.99", 24.995 → "24.99", 25.00 → "25.99"). The others pick
among the candidates 0.99, 1.99, 2.99, ...: `down` the highest at or below the amount
(25.00 → "24.99"), `up` the lowest at or above it (24.995 → "25.99"), `half_up` the nearest,
halfway going up. An amount below the ending itself becomes the ending (0.50 → "0.99").
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from core.rules.checks import check_keys
from core.rules.limits import MAX_DECIMALS
from core.rules.problems import Path, Problems, show
from core.rules.values import CONTEXT, in_range

Rounder = Callable[[Decimal], Decimal | None]

DECIMAL_MODES = {
    "half_up": decimal.ROUND_HALF_UP,
    "down": decimal.ROUND_DOWN,
    "up": decimal.ROUND_UP,
}
ENDING_MODES = ("keep_whole", "half_up", "down", "up")
EXAMPLE = '{"decimals": 2} or {"ending": ".99"}'


def check_round(value: Any, path: Path, problems: Problems) -> dict[str, Any]:
    if not isinstance(value, Mapping) or ("decimals" in value) == ("ending" in value):
        problems.add(
            path, f"must be an object with decimals or ending, like {EXAMPLE}, got {show(value)}"
        )
        return {}
    check_keys(value, path, problems, allowed=["decimals", "ending", "mode"], subject="round")
    if "decimals" in value:
        decimals = value["decimals"]
        if (
            isinstance(decimals, bool)
            or not isinstance(decimals, int)
            or not 0 <= decimals <= MAX_DECIMALS
        ):
            problems.add(
                (*path, "decimals"),
                f"must be a whole number from 0 to {MAX_DECIMALS}, got {show(decimals)}",
            )
        mode = _check_mode(value, path, problems, list(DECIMAL_MODES))
        return {"decimals": decimals, "mode": mode}
    ending = value["ending"]
    digits = ending[1:] if isinstance(ending, str) and ending.startswith(".") else ""
    if not (1 <= len(digits) <= 4 and digits.isascii() and digits.isdigit()):
        problems.add(
            (*path, "ending"),
            f'must be a "." and 1 to 4 digits, like ".99" or ".95", got {show(ending)}',
        )
    mode = _check_mode(value, path, problems, list(ENDING_MODES))
    return {"ending": ending, "mode": mode}


def _check_mode(value: Mapping[str, Any], path: Path, problems: Problems, modes: list[str]) -> str:
    mode = value.get("mode", modes[0])
    if mode not in modes:
        kind = "decimals" if "decimals" in value else "an ending"
        problems.add(
            (*path, "mode"), f"must be one of {', '.join(modes)} with {kind}, got {show(mode)}"
        )
    return str(mode)


def compile_round(spec: Mapping[str, Any]) -> Rounder:
    """A function rounding a number as `spec` says; None when the result is out of range."""
    if "decimals" in spec:
        step = Decimal(1).scaleb(-spec["decimals"])
        mode = DECIMAL_MODES[spec["mode"]]
        return _guarded(lambda number: number.quantize(step, rounding=mode, context=CONTEXT))
    ending = Decimal(spec["ending"])
    pick = _PICKERS[spec["mode"]]

    def to_ending(number: Decimal) -> Decimal:
        amount = number.copy_abs()
        result = ending if amount < ending else pick(amount, ending)
        return result.copy_negate() if number < 0 else result

    return _guarded(to_ending)


def _guarded(rounder: Callable[[Decimal], Decimal]) -> Rounder:
    def safe(number: Decimal) -> Decimal | None:
        try:
            result = rounder(number)
        except decimal.DecimalException:
            return None
        return result if in_range(result) else None

    return safe


def _whole(amount: Decimal, rounding: str) -> Decimal:
    return amount.to_integral_value(rounding=rounding, context=CONTEXT)


def _keep_whole(amount: Decimal, ending: Decimal) -> Decimal:
    return CONTEXT.add(_whole(amount, decimal.ROUND_FLOOR), ending)


def _down(amount: Decimal, ending: Decimal) -> Decimal:
    return CONTEXT.add(_whole(CONTEXT.subtract(amount, ending), decimal.ROUND_FLOOR), ending)


def _up(amount: Decimal, ending: Decimal) -> Decimal:
    return CONTEXT.add(_whole(CONTEXT.subtract(amount, ending), decimal.ROUND_CEILING), ending)


def _half_up(amount: Decimal, ending: Decimal) -> Decimal:
    below = _down(amount, ending)
    above = CONTEXT.add(below, 1)
    nearer_below = CONTEXT.subtract(amount, below) < CONTEXT.subtract(above, amount)
    return below if nearer_below else above


_PICKERS: dict[str, Callable[[Decimal, Decimal], Decimal]] = {
    "keep_whole": _keep_whole,
    "down": _down,
    "up": _up,
    "half_up": _half_up,
}
