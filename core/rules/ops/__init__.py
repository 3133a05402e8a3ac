"""The rule kinds, one module each, by the name a rule gives in its `op`."""

from __future__ import annotations

from core.rules.ops.base import Op, Step
from core.rules.ops.fields import DROP, KEEP
from core.rules.ops.filter import FILTER
from core.rules.ops.join import JOIN
from core.rules.ops.map import MAP
from core.rules.ops.rename import RENAME
from core.rules.ops.set import SET

OPS: dict[str, Op] = {op.name: op for op in (FILTER, SET, MAP, RENAME, DROP, KEEP, JOIN)}

__all__ = ["OPS", "Op", "Step"]
