"""What the alerts of a run are judged on, gathered by the pipeline after the import."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunFacts:
    """The outcome of one run's import.

    `out_of_stock` counts, per stock field, the records whose value there is a number <= 0;
    the caller counts each field that `stock_fields(alerts)` names (`count_out_of_stock`
    does it in one pass). `failed_sources` holds (connection name, error message) pairs.
    """

    project_id: str
    project_name: str
    run_id: str
    records_before: int
    records_after: int
    out_of_stock: Mapping[str, int] = field(default_factory=dict)
    failed_sources: list[tuple[str, str]] = field(default_factory=list)
    held: bool = False
    hold_reason: str | None = None


def stock_fields(alerts: Iterable[Mapping[str, Any]]) -> set[str]:
    """The stock fields the `out_of_stock_over` alerts look at."""
    return {a["stock_field"] for a in alerts if a["when"] == "out_of_stock_over"}


def count_out_of_stock(
    records: Iterable[Mapping[str, Any]], fields: Iterable[str]
) -> dict[str, int]:
    """Per field, the records whose value is a number (or numeric text) <= 0; a record
    without the field, or with a value that is not a number, is not counted."""
    names = list(fields)
    counts = dict.fromkeys(names, 0)
    for record in records:
        for name in names:
            stock = _number(record.get(name))
            if stock is not None and stock <= 0:
                counts[name] += 1
    return counts


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", "."))
        except ValueError:
            return None
    return None
