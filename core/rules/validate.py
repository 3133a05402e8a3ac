"""Checking a rule set a user sent, and storing it in one normalized shape.

Every message is a sentence about one setting, named by its path from the root
("rules[2].round.mode must be one of ..."), and `errors` holds the same messages under
dotted keys ({"rules": {"2.round.mode": [...]}}), as the API passes them on in a 422.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.rules.checks import check_keys
from core.rules.conditions import check_condition
from core.rules.limits import MAX_RULES
from core.rules.ops import OPS
from core.rules.problems import Path, Problems, show

EXAMPLE = '[{"op": "filter", "where": {"field": "stock", "gt": 0}}]'


def validate_rules(data: object, *, path: str = "rules", key: str | None = None) -> list[dict]:
    """A normalized copy of the rule set `data`, or Invalid naming every problem with it.

    Normalized: defaults filled in (map `default` "keep" and `case_insensitive` false, join
    `separator` " " and `skip_empty` true, round `mode`), a rename always in its `fields` form,
    repeats removed from drop/keep lists. Checking it again gives it back unchanged.

    With `key`, rules that would rename, overwrite, set or drop the key field are refused.
    """
    problems = Problems()
    root: Path = (path,)
    rules: list[dict] = []
    if not isinstance(data, list):
        problems.add(root, f"must be a list of rules, like {EXAMPLE}, got {show(data)}")
    elif len(data) > MAX_RULES:
        problems.add(root, f"must have at most {MAX_RULES} rules, got {len(data)}")
    else:
        rules = [_check_rule(rule, (path, index), problems, key) for index, rule in enumerate(data)]
    problems.raise_if_any(path)
    return rules


def _check_rule(rule: Any, path: Path, problems: Problems, key: str | None) -> dict[str, Any]:
    kinds = ", ".join(OPS)
    if not isinstance(rule, Mapping):
        problems.add(path, f"must be a rule object with an op ({kinds}), got {show(rule)}")
        return {}
    if "op" not in rule:
        problems.add((*path, "op"), f"is required: one of {kinds}")
        return {}
    op = OPS.get(rule["op"]) if isinstance(rule["op"], str) else None
    if op is None:
        problems.add((*path, "op"), f"must be one of {kinds}, got {show(rule['op'])}")
        return {}
    check_keys(rule, path, problems, allowed=["op", *op.settings], subject=f"a {op.name} rule")
    checked = {"op": op.name, **op.check(rule, path, problems, key)}
    if "where" in rule:
        checked["where"] = check_condition(rule["where"], (*path, "where"), problems)
    return checked
