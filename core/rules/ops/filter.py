"""`{"op": "filter", "where": COND}`: keeps only the records matching COND; the others are
dropped from the export, and the rules after it do not see them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.rules.checks import check_required
from core.rules.conditions import compile_condition
from core.rules.ops.base import Op, Step
from core.rules.problems import Path, Problems


def _check(rule: Mapping[str, Any], path: Path, problems: Problems, key: str | None) -> dict:
    check_required(rule, "where", path, problems)
    return {}


def _build(rule: Mapping[str, Any], key: str | None) -> Step:
    return compile_condition(rule["where"])


FILTER = Op("filter", ("where",), _check, _build, guarded=False)
