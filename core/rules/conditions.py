"""Conditions: which records a filter keeps, or which records another rule changes.

    COND := {"field": NAME, OPERATOR: OPERAND}        exactly one operator
          | {"all": [COND, ...]} | {"any": [COND, ...]} | {"not": COND}

A missing or null field matches no operator except `ne` and `not_in` (the negations of `eq` and
`in`), `exists: false` and `empty: true`. "" is absent for numbers and orderings, and equal only
to the text "".

- `eq`, `ne`, `in`, `not_in`: a JSON number operand compares numbers ("19.90" eq 19.9); a text
  operand compares text exactly ("00123" is not "123", so GTINs and SKUs never match by value);
  true/false compare with the text "true"/"false".
- `gt`, `gte`, `lt`, `lte`: numbers when both sides are numbers (a text operand "10" counts);
  text order when neither is (ISO dates: "2024-05-01"); no match when only one side is.
- `contains`, `starts_with`, `ends_with`: case-sensitive, on the field's text.
- `exists`: the field is present and not null. `empty`: missing, null, blank text, [] or {}.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from core.rules.checks import check_bool, check_name, check_scalar, check_text
from core.rules.limits import MAX_DEPTH, MAX_LIST_ITEMS, MAX_OPERANDS
from core.rules.problems import Path, Problems, show
from core.rules.values import as_text, is_empty, to_number

Condition = Callable[[Mapping[str, Any]], bool]

ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
TEXT_TESTS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda text, part: part in text,
    "starts_with": str.startswith,
    "ends_with": str.endswith,
}
OPERATORS = ("eq", "ne", *ORDERINGS, "in", "not_in", "exists", "empty", *TEXT_TESTS)
COMBINATORS = ("all", "any", "not")
EXAMPLE = '{"field": "stock", "gt": 0}'


def check_condition(value: Any, path: Path, problems: Problems, *, depth: int = 1) -> dict:
    """The condition `value`, checked; nesting deeper than MAX_DEPTH levels is refused."""
    if not isinstance(value, Mapping) or not value:
        problems.add(
            path, f'must be a condition like {EXAMPLE} or {{"all": [...]}}, got {show(value)}'
        )
        return {}
    if depth > MAX_DEPTH:
        problems.add(path, f"nests conditions more than {MAX_DEPTH} levels deep; flatten them")
        return {}
    if "field" in value:
        return _check_comparison(value, path, problems)
    for key in value:
        if key not in COMBINATORS:
            problems.add(
                (*path, str(key)),
                f"is not part of a condition: use field with one of {', '.join(OPERATORS)}, "
                "or one of all, any, not",
            )
    joiners = [key for key in COMBINATORS if key in value]
    if len(joiners) > 1:
        problems.add(
            path, f"must have only one of all, any, not (got {', '.join(joiners)}); nest them"
        )
    if len(joiners) != 1 or len(value) != 1:
        return {}
    joiner = joiners[0]
    inner = value[joiner]
    if joiner == "not":
        return {"not": check_condition(inner, (*path, "not"), problems, depth=depth + 1)}
    if not isinstance(inner, list) or not 1 <= len(inner) <= MAX_OPERANDS:
        got = f"{len(inner)} conditions" if isinstance(inner, list) else show(inner)
        problems.add(
            (*path, joiner), f"must be a list of 1 to {MAX_OPERANDS} conditions, got {got}"
        )
        return {}
    items = [
        check_condition(item, (*path, joiner, index), problems, depth=depth + 1)
        for index, item in enumerate(inner)
    ]
    return {joiner: items}


def _check_comparison(value: Mapping[str, Any], path: Path, problems: Problems) -> dict:
    name = check_name(value["field"], (*path, "field"), problems)
    keys = [key for key in value if key != "field"]
    for key in keys:
        if key not in OPERATORS:
            problems.add(
                (*path, str(key)), f"is not an operator: use one of {', '.join(OPERATORS)}"
            )
    found = [key for key in keys if key in OPERATORS]
    if not keys:
        problems.add(path, f"needs an operator next to field: one of {', '.join(OPERATORS)}")
    elif len(found) > 1:
        problems.add(
            path, f"must have one operator, got {', '.join(found)}; combine comparisons with all"
        )
    checked = {key: _check_operand(key, value[key], (*path, key), problems) for key in found}
    return {"field": name, **checked}


def _check_operand(name: str, value: Any, path: Path, problems: Problems) -> Any:
    if name in ("exists", "empty"):
        return check_bool(value, path, problems)
    if name in TEXT_TESTS:
        return check_text(value, path, problems, min_chars=1)
    if name in ORDERINGS:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            problems.add(path, f"must be a number or a text, got {show(value)}")
            return 0
        return check_scalar(value, path, problems)
    if name in ("in", "not_in"):
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST_ITEMS:
            got = f"{len(value)} values" if isinstance(value, list) else show(value)
            problems.add(path, f"must be a list of 1 to {MAX_LIST_ITEMS} values, got {got}")
            return []
        return [check_scalar(item, (*path, index), problems) for index, item in enumerate(value)]
    return check_scalar(value, path, problems)


def compile_condition(condition: Mapping[str, Any]) -> Condition:
    """A predicate for a checked condition; it reads the record and never changes it."""
    if "all" in condition:
        parts = [compile_condition(item) for item in condition["all"]]
        return lambda record: all(part(record) for part in parts)
    if "any" in condition:
        parts = [compile_condition(item) for item in condition["any"]]
        return lambda record: any(part(record) for part in parts)
    if "not" in condition:
        inner = compile_condition(condition["not"])
        return lambda record: not inner(record)
    field = condition["field"]
    (name,) = (key for key in condition if key != "field")
    test = _value_test(name, condition[name])
    return lambda record: test(record.get(field))


def _value_test(name: str, operand: Any) -> Callable[[Any], bool]:
    if name == "exists":
        return lambda value: (value is not None) is operand
    if name == "empty":
        return lambda value: is_empty(value) is operand
    if name in TEXT_TESTS:
        text_test = TEXT_TESTS[name]
        return lambda value: (text := as_text(value)) is not None and text_test(text, operand)
    if name in ORDERINGS:
        return _ordering(ORDERINGS[name], operand)
    matches = _equality(operand if name in ("in", "not_in") else [operand])
    if name in ("ne", "not_in"):
        return lambda value: not matches(value)
    return matches


def _ordering(compare: Callable[[Any, Any], bool], operand: Any) -> Callable[[Any], bool]:
    bound = to_number(operand)
    if bound is not None:
        number_bound = bound
        return lambda value: (
            (number := to_number(value)) is not None and compare(number, number_bound)
        )
    text_bound = str(operand)

    def test(value: Any) -> bool:
        text = as_text(value)
        return bool(text) and to_number(text) is None and compare(text, text_bound)

    return test


def _equality(operands: list[Any]) -> Callable[[Any], bool]:
    numbers = {
        number
        for item in operands
        if isinstance(item, int | float) and not isinstance(item, bool)
        if (number := to_number(item)) is not None
    }
    texts = {as_text(item) for item in operands if isinstance(item, str | bool)}

    def matches(value: Any) -> bool:
        if numbers and to_number(value) in numbers:
            return True
        return bool(texts) and as_text(value) in texts

    return matches
