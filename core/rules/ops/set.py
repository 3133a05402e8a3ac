"""`{"op": "set", "field": NAME, <source>, "round": ROUND?, "where": COND?}`: gives a field a value.

The source is exactly one of:
- `"value": TEXT | NUMBER | BOOL`, a constant;
- `"from": NAME`, a copy of another field (a missing or null one leaves the field absent);
- `"expr": EXPR`, a calculation (see `expressions`), written as a decimal string ("23.880").

With `round` (see `rounding`) the source must give a number, and the field gets the rounded
number as a string ("24.99"). Whenever the source gives nothing (a missing field, a text that is
not a number, a division by zero), the field is removed and the record goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from core.rules.checks import check_name, check_required, check_scalar, is_number_literal
from core.rules.expressions import check_expression, compile_expression
from core.rules.ops.base import Op, Step, refuse_key
from core.rules.problems import Path, Problems
from core.rules.rounding import check_round, compile_round
from core.rules.values import format_number, to_number

SOURCES = ("value", "from", "expr")


def _check(rule: Mapping[str, Any], path: Path, problems: Problems, key: str | None) -> dict:
    checked: dict[str, Any] = {}
    if check_required(rule, "field", path, problems):
        checked["field"] = check_name(rule["field"], (*path, "field"), problems)
        refuse_key(checked["field"], key, (*path, "field"), problems, "set")
    given = [source for source in SOURCES if source in rule]
    if len(given) != 1:
        got = ", ".join(given) if given else "none"
        problems.add(path, f"must have exactly one of value, from, expr, got {got}")
    if "value" in rule:
        checked["value"] = check_scalar(rule["value"], (*path, "value"), problems)
        if "round" in rule and not is_number_literal(rule["value"]):
            problems.add((*path, "value"), "must be a number when the rule has round")
    if "from" in rule:
        checked["from"] = check_name(rule["from"], (*path, "from"), problems)
    if "expr" in rule:
        checked["expr"] = check_expression(rule["expr"], (*path, "expr"), problems)
    if "round" in rule:
        checked["round"] = check_round(rule["round"], (*path, "round"), problems)
    return checked


def _build(rule: Mapping[str, Any], key: str | None) -> Step:
    field = rule["field"]
    source = _source(rule)

    def step(record: dict[str, Any]) -> bool:
        value = source(record)
        if value is None:
            record.pop(field, None)
        else:
            record[field] = value
        return True

    return step


def _source(rule: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], Any]:
    """What the field gets for a record; None means the field is left absent."""
    number_of: Callable[[Mapping[str, Any]], Decimal | None]
    if "expr" in rule:
        number_of = compile_expression(rule["expr"])
    else:
        raw = _raw(rule)
        if "round" not in rule:
            return raw
        number_of = lambda record: to_number(raw(record))  # noqa: E731
    rounder = compile_round(rule["round"]) if "round" in rule else None

    def calculate(record: Mapping[str, Any]) -> str | None:
        number = number_of(record)
        if number is not None and rounder is not None:
            number = rounder(number)
        return None if number is None else format_number(number)

    return calculate


def _raw(rule: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], Any]:
    if "from" in rule:
        origin = rule["from"]
        return lambda record: record.get(origin)
    constant = rule["value"]
    return lambda record: constant


SET = Op("set", ("field", *SOURCES, "round", "where"), _check, _build)
