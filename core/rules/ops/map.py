"""`{"op": "map", "field": NAME, "values": {TEXT: VALUE, ...}, "default": "keep" | VALUE,
"case_insensitive": BOOL, "where": COND?}`: translates a field's values through a table.

The field's text (numbers as written out, true/false as "true"/"false") is looked up in
`values`; a missing or null field is looked up as "". When nothing matches, `default` decides:
"keep" (the default) leaves the field as it was, any other value replaces it; the text "keep"
itself therefore cannot be a default value. `case_insensitive` (default false) compares by
`str.casefold`, so "In Stock" and "in stock" are one key, and keys equal in that sense must then
map to the same value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.rules.checks import check_bool, check_name, check_required, check_scalar, check_text
from core.rules.limits import MAX_LIST_ITEMS
from core.rules.ops.base import Op, Step, refuse_key
from core.rules.problems import Path, Problems, show
from core.rules.values import as_text

KEEP = "keep"


def _check(rule: Mapping[str, Any], path: Path, problems: Problems, key: str | None) -> dict:
    checked: dict[str, Any] = {}
    if check_required(rule, "field", path, problems):
        checked["field"] = check_name(rule["field"], (*path, "field"), problems)
        refuse_key(checked["field"], key, (*path, "field"), problems, "map")
    if check_required(rule, "values", path, problems):
        checked["values"] = _check_values(rule["values"], (*path, "values"), problems)
    default = rule.get("default", KEEP)
    checked["default"] = check_scalar(default, (*path, "default"), problems)
    insensitive = check_bool(
        rule.get("case_insensitive", False), (*path, "case_insensitive"), problems
    )
    checked["case_insensitive"] = insensitive
    if insensitive and checked.get("values"):
        _refuse_clashes(checked["values"], (*path, "values"), problems)
    return checked


def _check_values(values: Any, path: Path, problems: Problems) -> dict[str, Any]:
    if not isinstance(values, Mapping) or not 1 <= len(values) <= MAX_LIST_ITEMS:
        got = f"{len(values)} entries" if isinstance(values, Mapping) else show(values)
        problems.add(path, f"must be an object of 1 to {MAX_LIST_ITEMS} entries, got {got}")
        return {}
    table: dict[str, Any] = {}
    for text, value in values.items():
        at = (*path, str(text))
        table[check_text(text, at, problems)] = check_scalar(value, at, problems)
    return table


def _refuse_clashes(values: Mapping[str, Any], path: Path, problems: Problems) -> None:
    seen: dict[str, str] = {}
    for text, value in values.items():
        folded = text.casefold()
        first = seen.setdefault(folded, text)
        if first != text and values[first] != value:
            problems.add(
                (*path, text),
                f"clashes with {first!r}: case_insensitive makes them one key, "
                "so they must map to the same value",
            )


def _build(rule: Mapping[str, Any], key: str | None) -> Step:
    field = rule["field"]
    insensitive = rule["case_insensitive"]
    table = {(text.casefold() if insensitive else text): v for text, v in rule["values"].items()}
    default = rule["default"]
    keep = default == KEEP

    def step(record: dict[str, Any]) -> bool:
        text = as_text(record.get(field)) or ""
        found = table.get(text.casefold() if insensitive else text, table)
        if found is not table:
            record[field] = found
        elif not keep:
            record[field] = default
        return True

    return step


MAP = Op("map", ("field", "values", "default", "case_insensitive", "where"), _check, _build)
