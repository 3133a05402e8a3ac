"""`{"op": "join", "field": NAME, "from": [NAME, ...], "separator": TEXT, "skip_empty": BOOL,
"where": COND?}`: sets a field to other fields' texts joined by a separator (default " ").

A plain join, no format strings: values are written as text (numbers in full, true/false as
"true"/"false"). With `skip_empty` (the default) missing, null and blank values are left out,
and when nothing is left the field is removed; without it they count as "".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.rules.checks import check_bool, check_name, check_names, check_required, check_text
from core.rules.ops.base import Op, Step, refuse_key
from core.rules.problems import Path, Problems
from core.rules.values import as_text


def _check(rule: Mapping[str, Any], path: Path, problems: Problems, key: str | None) -> dict:
    checked: dict[str, Any] = {}
    if check_required(rule, "field", path, problems):
        checked["field"] = check_name(rule["field"], (*path, "field"), problems)
        refuse_key(checked["field"], key, (*path, "field"), problems, "set")
    if check_required(rule, "from", path, problems):
        checked["from"] = check_names(rule["from"], (*path, "from"), problems, unique=False)
    checked["separator"] = check_text(rule.get("separator", " "), (*path, "separator"), problems)
    skip_empty = rule.get("skip_empty", True)
    checked["skip_empty"] = check_bool(skip_empty, (*path, "skip_empty"), problems)
    return checked


def _build(rule: Mapping[str, Any], key: str | None) -> Step:
    field = rule["field"]
    sources = tuple(rule["from"])
    separator = rule["separator"]
    skip_empty = rule["skip_empty"]

    def step(record: dict[str, Any]) -> bool:
        texts = [as_text(record.get(source)) or "" for source in sources]
        if skip_empty:
            texts = [text for text in texts if text.strip()]
        if texts:
            record[field] = separator.join(texts)
        else:
            record.pop(field, None)
        return True

    return step


JOIN = Op("join", ("field", "from", "separator", "skip_empty", "where"), _check, _build)
