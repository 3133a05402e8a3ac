"""Expressions: the small arithmetic trees a `set` rule calculates with.

    EXPR := NUMBER | "DECIMAL TEXT" | {"field": NAME}
          | {"add" | "mul" | "min" | "max": [EXPR, EXPR, ...]}     2 to 20 operands
          | {"sub" | "div": [EXPR, EXPR]}

All arithmetic is decimal (0.1 + 0.2 is 0.3). An expression is absent when any field it reads is
absent or not a number (see `values`), when it divides by zero, or when its result reaches 10**30;
the `set` rule then leaves its field absent and the record goes on through the rules.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import reduce
from typing import Any

from core.rules.checks import check_name, check_number
from core.rules.limits import MAX_DEPTH, MAX_OPERANDS
from core.rules.problems import Path, Problems, show
from core.rules.values import CONTEXT, in_range, to_number

Expression = Callable[[Mapping[str, Any]], Decimal | None]

FOLDS: dict[str, Callable[[Decimal, Decimal], Decimal]] = {
    "add": CONTEXT.add,
    "mul": CONTEXT.multiply,
    "min": CONTEXT.min,
    "max": CONTEXT.max,
    "sub": CONTEXT.subtract,
    "div": CONTEXT.divide,
}
PAIRS = ("sub", "div")
EXAMPLE = '{"mul": [{"field": "price"}, 1.2]}'


def check_expression(value: Any, path: Path, problems: Problems, *, depth: int = 1) -> Any:
    """The expression `value`, checked; nesting deeper than MAX_DEPTH levels is refused."""
    if not isinstance(value, Mapping):
        return check_number(value, path, problems)
    if depth > MAX_DEPTH:
        problems.add(path, f"nests expressions more than {MAX_DEPTH} levels deep; simplify it")
        return 0
    kinds = [key for key in value if key == "field" or key in FOLDS]
    if len(value) == 1 and not kinds:
        (key,) = value
        problems.add(
            (*path, str(key)), f"is not an operation: use field or one of {', '.join(FOLDS)}"
        )
        return 0
    if len(kinds) != 1 or len(value) != 1:
        problems.add(
            path,
            f'must be a number, {{"field": ...}} or one of {", ".join(FOLDS)} with a list, '
            f"like {EXAMPLE}, got {show(value)}",
        )
        return 0
    kind = kinds[0]
    if kind == "field":
        return {"field": check_name(value["field"], (*path, "field"), problems)}
    operands = value[kind]
    low, high = (2, 2) if kind in PAIRS else (2, MAX_OPERANDS)
    if not isinstance(operands, list) or not low <= len(operands) <= high:
        count = "2" if low == high else f"2 to {high}"
        got = f"{len(operands)}" if isinstance(operands, list) else show(operands)
        problems.add((*path, kind), f"must be a list of {count} expressions, got {got}")
        return 0
    items = [
        check_expression(item, (*path, kind, index), problems, depth=depth + 1)
        for index, item in enumerate(operands)
    ]
    return {kind: items}


def compile_expression(expression: Any) -> Expression:
    """A function giving the checked expression's value for a record, or None when absent."""
    inner = _compile(expression)

    def evaluate(record: Mapping[str, Any]) -> Decimal | None:
        try:
            result = inner(record)
        except decimal.DecimalException:
            return None
        return result if result is not None and in_range(result) else None

    return evaluate


def _compile(expression: Any) -> Expression:
    if not isinstance(expression, Mapping):
        constant = to_number(expression)
        return lambda record: constant
    if "field" in expression:
        field = expression["field"]
        return lambda record: to_number(record.get(field))
    ((kind, items),) = expression.items()
    fold = FOLDS[kind]
    parts = [_compile(item) for item in items]

    def calculate(record: Mapping[str, Any]) -> Decimal | None:
        values: list[Decimal] = []
        for part in parts:
            value = part(record)
            if value is None:
                return None
            values.append(value)
        return reduce(fold, values)

    return calculate
