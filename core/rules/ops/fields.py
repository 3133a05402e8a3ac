"""`{"op": "drop", "fields": [NAME, ...]}` removes fields; `{"op": "keep", "fields": [NAME, ...]}`
removes every field not listed. Both take an optional `where`.

The key field survives both: a drop naming it is refused when the key is known, and `keep`
always keeps it (the stored rule lists only what the user listed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.rules.checks import check_names, check_required
from core.rules.ops.base import Op, Step, refuse_key
from core.rules.problems import Path, Problems


def _check_drop(rule: Mapping[str, Any], path: Path, problems: Problems, key: str | None) -> dict:
    if not check_required(rule, "fields", path, problems):
        return {}
    names = check_names(rule["fields"], (*path, "fields"), problems)
    if key in names:
        refuse_key(key, key, (*path, "fields", rule["fields"].index(key)), problems, "drop")
    return {"fields": names}


def _check_keep(rule: Mapping[str, Any], path: Path, problems: Problems, key: str | None) -> dict:
    if not check_required(rule, "fields", path, problems):
        return {}
    return {"fields": check_names(rule["fields"], (*path, "fields"), problems)}


def _build_drop(rule: Mapping[str, Any], key: str | None) -> Step:
    names = tuple(rule["fields"])

    def step(record: dict[str, Any]) -> bool:
        for name in names:
            record.pop(name, None)
        return True

    return step


def _build_keep(rule: Mapping[str, Any], key: str | None) -> Step:
    kept = frozenset(rule["fields"]) | ({key} if key is not None else set())

    def step(record: dict[str, Any]) -> bool:
        for name in [name for name in record if name not in kept]:
            del record[name]
        return True

    return step


DROP = Op("drop", ("fields", "where"), _check_drop, _build_drop)
KEEP = Op("keep", ("fields", "where"), _check_keep, _build_keep)
