"""Export rules: declarative JSON that transforms records on their way to a channel.

A rule set is a list of rule objects, checked when saved (`validate_rules`) and compiled per run
(`compile_rules`); user text is data only, never evaluated, formatted or used as a pattern.
Project rules run first, then each channel's (`chain`).

    RULE := {"op": "filter", "where": COND}
          | {"op": "set", "field": NAME, "value": VALUE | "from": NAME | "expr": EXPR,
             "round": ROUND?}
          | {"op": "map", "field": NAME, "values": {TEXT: VALUE}, "default": "keep" | VALUE,
             "case_insensitive": BOOL}
          | {"op": "rename", "from": NAME, "to": NAME} | {"op": "rename", "fields": {NAME: NAME}}
          | {"op": "drop", "fields": [NAME, ...]} | {"op": "keep", "fields": [NAME, ...]}
          | {"op": "join", "field": NAME, "from": [NAME, ...], "separator": TEXT,
             "skip_empty": BOOL}

Every rule except filter takes an optional `"where": COND` limiting it to matching records.
COND is in `conditions`, EXPR in `expressions`, ROUND in `rounding`, each op in `ops/`, the
caps in `limits`. Values are read as in `values`: decimal strings are numbers, "" and missing
are absent, money is calculated with decimal.Decimal and written back as strings ("24.99").
"""

from __future__ import annotations

from core.rules.compile import compile_rules
from core.rules.ruleset import RuleSet, chain
from core.rules.validate import validate_rules

__all__ = ["RuleSet", "chain", "compile_rules", "validate_rules"]
