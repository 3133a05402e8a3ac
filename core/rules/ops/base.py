"""What every rule kind provides: its settings, a check of a rule, and a step that runs it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.rules.problems import Path, Problems

Step = Callable[[dict[str, Any]], bool]
"""Runs one rule on the working copy of a record, changing it in place; False drops the record.

Steps only ever replace or remove a record's top-level values, never change a value inside one,
so a shallow copy of the input record is enough to leave the input untouched."""

Check = Callable[[Mapping[str, Any], Path, Problems, str | None], dict[str, Any]]
Build = Callable[[Mapping[str, Any], str | None], Step]


@dataclass(frozen=True)
class Op:
    """A rule kind. `check(rule, path, problems, key)` returns the normalized settings (without
    `op` and `where`); `build(rule, key)` turns a checked rule into a Step.

    `settings` are the keys a rule of this kind may have besides `op`. Unless `guarded` is
    false, `where` is one of them and limits the rule to the records matching it (a filter's
    `where` is its test, not a guard).
    """

    name: str
    settings: tuple[str, ...]
    check: Check
    build: Build
    guarded: bool = True


def refuse_key(name: str, key: str | None, path: Path, problems: Problems, doing: str) -> None:
    """Refuses a rule that would change the key field, when the key is known."""
    if key is not None and name == key:
        problems.add(
            path,
            f"cannot be {key!r}: that is the key field, which identifies the record on the "
            f"channel, so rules cannot {doing} it",
        )
