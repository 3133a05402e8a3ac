"""The grammar of named sets: `NAME` or `NAME:ARGUMENT`, one set per string.

    SET      := NAME | NAME ":" ARGUMENT
    NAME     := lower-case letters and "-" (e.g. `with-issues`, `pending-updates`)
    ARGUMENT := the rest of the string after the first ":" (a connection id, a field name, a
                value, a date), 1 to 200 characters

Each vocabulary (record sets, order sets) says which names take an argument; a name that is
unknown, an argument missing or given where none is taken, and a malformed argument are all
`UnknownSet` errors (answered 422) naming the set and listing the valid names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from core.errors import Invalid

MAX_SETS = 20
MAX_ARGUMENT_CHARS = 200


class UnknownSet(Invalid):
    """A set string that names no set of the vocabulary, or gives it a bad argument."""


@dataclass(frozen=True)
class SetSpec:
    """One parsed set: its name and its argument ("" for names that take none)."""

    name: str
    argument: str
    text: str


@dataclass(frozen=True)
class Vocabulary:
    """The set names of one kind of document: name → (takes an argument, what it means)."""

    kind: str
    names: dict[str, tuple[bool, str]]
    aliases: dict[str, str]

    def usage(self) -> list[str]:
        return [f"{n}:<{_arg_hint(h)}>" if takes else n for n, (takes, h) in self.names.items()]

    def fail(self, text: str, why: str) -> UnknownSet:
        valid = ", ".join(self.usage())
        return UnknownSet(
            f"{self.kind} set {text!r} {why}; valid sets: {valid}",
            errors={"set": [f"{text}: {why}"], "valid_sets": self.usage()},
        )


def _arg_hint(hint: str) -> str:
    return hint.split("|", 1)[0]


def parse_sets(texts: Iterable[str], vocabulary: Vocabulary) -> list[SetSpec]:
    """Parse each string of `texts`; the first bad one raises UnknownSet."""
    given = list(texts)
    if len(given) > MAX_SETS:
        raise UnknownSet(
            f"at most {MAX_SETS} sets can be combined, got {len(given)}",
            errors={"set": [f"at most {MAX_SETS}"]},
        )
    return [parse_set(text, vocabulary) for text in given]


def parse_set(text: str, vocabulary: Vocabulary) -> SetSpec:
    name, colon, argument = text.strip().partition(":")
    name = vocabulary.aliases.get(name, name)
    if name not in vocabulary.names:
        raise vocabulary.fail(text, "is not a known set")
    takes_argument, _ = vocabulary.names[name]
    if takes_argument and not argument.strip():
        raise vocabulary.fail(text, f"needs an argument: {name}:<...>")
    if not takes_argument and colon:
        raise vocabulary.fail(text, "takes no argument")
    if len(argument) > MAX_ARGUMENT_CHARS:
        raise vocabulary.fail(text[:40] + "…", f"has an argument over {MAX_ARGUMENT_CHARS} chars")
    return SetSpec(name, argument.strip(), text)


Check = Callable[[str], Any]


def field_name(spec: SetSpec, vocabulary: Vocabulary) -> str:
    """The argument as a record field name: no `$`, no leading or doubled dots."""
    name = spec.argument
    if "$" in name or name.startswith(".") or name.endswith(".") or ".." in name or "\0" in name:
        raise vocabulary.fail(spec.text, "needs a field name without '$' or stray dots")
    return name
