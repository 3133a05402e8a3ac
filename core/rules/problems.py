"""Collecting what is wrong with a rule set, each problem named by its path from the root.

A path is a tuple of keys and list indexes: ("rules", 2, "where", "all", 0, "gt"). The message
spells it the way a reader finds it in the JSON (`rules[2].where.all[0].gt`); the `errors` key
drops the root and joins the rest with dots (`2.where.all.0.gt`), so an API client can put each
message next to the input it is about.
"""

from __future__ import annotations

import reprlib
from typing import Any

from core.errors import Invalid
from core.rules.limits import MAX_PROBLEMS

Path = tuple[str | int, ...]


_SHORT = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict = 2, 4, 4
_SHORT.maxstring = _SHORT.maxlong = _SHORT.maxother = 50


def show(value: object) -> str:
    """`value` as quoted in a message, cut short so a huge or deeply nested payload can neither
    flood the answer nor take long to write out."""
    text = _SHORT.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def spell(path: Path) -> str:
    """The path as written in a message: `rules[2].where.all[0].gt`."""
    text = str(path[0])
    for part in path[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


class Problems:
    """Every problem found while checking one rule set; `raise_if_any` turns them into Invalid.

    Checks go on after a problem, so one answer lists everything that is wrong, up to
    MAX_PROBLEMS messages.
    """

    def __init__(self) -> None:
        self.by_key: dict[str, list[str]] = {}
        self.count = 0

    def add(self, path: Path, text: str) -> None:
        self.count += 1
        if self.count > MAX_PROBLEMS:
            return
        key = ".".join(str(part) for part in path[1:]) or "_schema"
        self.by_key.setdefault(key, []).append(f"{spell(path)} {text}")

    def __bool__(self) -> bool:
        return self.count > 0

    def raise_if_any(self, root: str) -> None:
        if not self.count:
            return
        texts = [text for texts in self.by_key.values() for text in texts]
        if self.count > MAX_PROBLEMS:
            texts.append(f"and {self.count - MAX_PROBLEMS} more problems")
        errors: dict[str, Any] = {root: self.by_key}
        raise Invalid("; ".join(texts), errors=errors)
