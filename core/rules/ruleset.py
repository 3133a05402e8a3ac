"""A compiled rule set: the steps that turn a record into what a channel receives."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from core.rules.ops import Step


class RuleSet:
    """Rules ready to run, in order; immutable and safe to share between threads.

    `apply` works on a shallow copy of the record, so the input is never changed; the output may
    share nested values (lists, objects) with the input, which rules never change.
    """

    __slots__ = ("_steps",)

    def __init__(self, steps: Sequence[Step] = ()) -> None:
        self._steps: tuple[Step, ...] = tuple(steps)

    def __len__(self) -> int:
        return len(self._steps)

    def __repr__(self) -> str:
        return f"<RuleSet of {len(self._steps)} rules>"

    def apply(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        """A new dict with the rules applied, or None when a filter drops the record."""
        result = dict(record)
        for step in self._steps:
            if not step(result):
                return None
        return result

    def apply_all(self, records: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        """The records that pass, transformed, one at a time as `records` yields them."""
        for record in records:
            result = self.apply(record)
            if result is not None:
                yield result


def chain(*rule_sets: RuleSet) -> RuleSet:
    """One rule set running each of `rule_sets` in turn: project rules, then channel rules."""
    return RuleSet([step for rule_set in rule_sets for step in rule_set._steps])
