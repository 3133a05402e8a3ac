"""`{"op": "rename", "from": NAME, "to": NAME}` or `{"op": "rename", "fields": {NAME: NAME, ...}}`,
with an optional `where`: moves values to new field names.

Stored in the second form. The renames of one rule happen at once, so {"a": "b", "b": "a"} swaps
two fields. A missing source renames nothing (the target keeps its value); a present one
replaces the target's value. Two sources cannot share a target; when the key is known, the key
field can be neither a source nor a target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.rules.checks import check_name
from core.rules.limits import MAX_FIELDS
from core.rules.ops.base import Op, Step, refuse_key
from core.rules.problems import Path, Problems, show


def _check(rule: Mapping[str, Any], path: Path, problems: Problems, key: str | None) -> dict:
    single = "from" in rule or "to" in rule
    if single == ("fields" in rule):
        problems.add(path, 'must have either from and to, or fields (like {"old": "new"})')
        return {"fields": {}}
    if single:
        source = check_name(rule.get("from"), (*path, "from"), problems)
        target = check_name(rule.get("to"), (*path, "to"), problems)
        _check_pair(source, target, (*path, "from"), (*path, "to"), problems, key)
        return {"fields": {source: target}}
    fields = rule["fields"]
    if not isinstance(fields, Mapping) or not 1 <= len(fields) <= MAX_FIELDS:
        got = f"{len(fields)} entries" if isinstance(fields, Mapping) else show(fields)
        problems.add(
            (*path, "fields"), f"must be an object of 1 to {MAX_FIELDS} renames, got {got}"
        )
        return {"fields": {}}
    renames: dict[str, str] = {}
    sources_of: dict[str, str] = {}
    for source, target in fields.items():
        at = (*path, "fields", str(source))
        source = check_name(source, at, problems)
        target = check_name(target, at, problems)
        _check_pair(source, target, at, at, problems, key)
        if target and sources_of.setdefault(target, source) != source:
            problems.add(at, f"renames to {target!r} like {sources_of[target]!r} does; pick one")
        renames[source] = target
    return {"fields": renames}


def _check_pair(
    source: str, target: str, source_at: Path, target_at: Path, problems: Problems, key: str | None
) -> None:
    if source and source == target:
        problems.add(target_at, f"must differ from the field it renames, got {target!r} twice")
    refuse_key(source, key, source_at, problems, "rename")
    refuse_key(target, key, target_at, problems, "overwrite")


def _build(rule: Mapping[str, Any], key: str | None) -> Step:
    renames = tuple(rule["fields"].items())

    def step(record: dict[str, Any]) -> bool:
        moved = [(target, record.pop(source)) for source, target in renames if source in record]
        record.update(moved)
        return True

    return step


RENAME = Op("rename", ("from", "to", "fields", "where"), _check, _build)
