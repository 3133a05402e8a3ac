"""Checks shared by every part of the grammar: names, texts, literals, lists and unknown keys.

Each check adds what is wrong to `problems` and returns the value to keep (possibly a
placeholder); callers go on checking, and `Problems.raise_if_any` decides at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.rules.limits import MAX_FIELDS, MAX_NAME_CHARS, MAX_STORED_INT, MAX_TEXT_CHARS
from core.rules.problems import Path, Problems, show
from core.rules.values import to_number

Scalar = str | int | float | bool
TOO_BIG = "must fit in 64 bits (up to 9223372036854775807); write a larger number as text"


def check_keys(
    rule: Mapping[str, Any], path: Path, problems: Problems, *, allowed: Sequence[str], subject: str
) -> None:
    """Refuses keys that `subject` does not have, naming the ones it does."""
    for key in rule:
        if key not in allowed:
            problems.add((*path, str(key)), f"is not a setting of {subject} ({', '.join(allowed)})")


def check_required(rule: Mapping[str, Any], name: str, path: Path, problems: Problems) -> bool:
    if name in rule:
        return True
    problems.add((*path, name), "is required")
    return False


def check_name(value: Any, path: Path, problems: Problems) -> str:
    """A field name: text of 1 to 200 characters, taken literally ("g:gtin", "shipping.price")."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME_CHARS:
        problems.add(
            path, f"must be a field name of 1 to {MAX_NAME_CHARS} characters, got {show(value)}"
        )
        return ""
    return value


def check_names(value: Any, path: Path, problems: Problems, *, unique: bool = True) -> list[str]:
    """A list of 1 to 200 field names; `unique` drops repeats, keeping the first order."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_FIELDS:
        got = f"{len(value)} names" if isinstance(value, list) else show(value)
        problems.add(path, f"must be a list of 1 to {MAX_FIELDS} field names, got {got}")
        return []
    names = [check_name(item, (*path, index), problems) for index, item in enumerate(value)]
    return list(dict.fromkeys(names)) if unique else names


def check_text(value: Any, path: Path, problems: Problems, *, min_chars: int = 0) -> str:
    if not isinstance(value, str) or not min_chars <= len(value) <= MAX_TEXT_CHARS:
        problems.add(
            path, f"must be a text of {min_chars} to {MAX_TEXT_CHARS} characters, got {show(value)}"
        )
        return ""
    return value


def check_bool(value: Any, path: Path, problems: Problems) -> bool:
    if not isinstance(value, bool):
        problems.add(path, f"must be true or false, got {show(value)}")
        return False
    return value


def is_number_literal(value: Any) -> bool:
    """A JSON number (not true/false) or a decimal string that rules can calculate with."""
    return not isinstance(value, bool) and to_number(value) is not None


def _fits_storage(value: Any) -> bool:
    return not isinstance(value, int) or -MAX_STORED_INT <= value <= MAX_STORED_INT


def check_number(value: Any, path: Path, problems: Problems) -> int | float | str:
    if not isinstance(value, int | float | str) or not is_number_literal(value):
        problems.add(
            path, f'must be a number, or a decimal text like "1.2", below 10**30, got {show(value)}'
        )
        return 0
    if not _fits_storage(value):
        problems.add(path, f"{TOO_BIG}, got {show(value)}")
    return value


def check_scalar(value: Any, path: Path, problems: Problems) -> Scalar:
    """A value a rule can put in a record: text (up to 10,000 characters), number or boolean."""
    if isinstance(value, str):
        return check_text(value, path, problems)
    if isinstance(value, bool) or (isinstance(value, int | float) and is_number_literal(value)):
        if not _fits_storage(value):
            problems.add(path, f"{TOO_BIG}, got {show(value)}")
        return value
    if isinstance(value, int | float):
        problems.add(path, f"must be a finite number below 10**30, got {show(value)}")
    else:
        problems.add(path, f"must be a text, a number or true/false, got {show(value)}")
    return ""
