"""Turning a checked rule set into a RuleSet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.rules.conditions import compile_condition
from core.rules.ops import OPS, Step
from core.rules.ruleset import RuleSet
from core.rules.validate import validate_rules


def compile_rules(rules: list[dict], *, key: str | None = None, path: str = "rules") -> RuleSet:
    """A RuleSet running `rules`; with `key`, the key field is kept by every rule.

    The rules are checked again first: rules stored before a change to the grammar, or written
    around the API, fail here with the same Invalid (naming index and setting) rather than
    somewhere in the middle of an export; `path` names the set in them ("channel.rules").
    Rules saved without the key that would change it are refused here. Checking 200 rules
    takes a few milliseconds.
    """
    checked = validate_rules(rules, key=key, path=path)
    return RuleSet([_step(rule, key) for rule in checked])


def _step(rule: Mapping[str, Any], key: str | None) -> Step:
    op = OPS[rule["op"]]
    step = op.build(rule, key)
    if not op.guarded or "where" not in rule:
        return step
    applies = compile_condition(rule["where"])
    return lambda record: step(record) if applies(record) else True
