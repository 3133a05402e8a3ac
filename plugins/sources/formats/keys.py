"""The key check every record of a feed passes: a single, non-empty value."""

from __future__ import annotations

from core.errors import ConnectorError
from plugins.base import Record

SHOWN_FIELDS = 12


def check_key(record: Record, key: str, where: str) -> Record:
    """`record` when its `key` holds a single non-empty value; `where` names it in the error
    (e.g. "item 3", "line 7")."""
    if key not in record:
        names = list(record)
        shown = ", ".join(names[:SHOWN_FIELDS]) + (", …" if len(names) > SHOWN_FIELDS else "")
        raise ConnectorError(
            f"{where} has no key field {key!r} (fields: {shown or 'none'}); set `key` to the "
            "field that identifies a record"
        )
    value = record[key]
    if isinstance(value, dict | list):
        kind = "an object" if isinstance(value, dict) else "a list"
        raise ConnectorError(f"{where} has {kind} as its key {key!r}, not a single value")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConnectorError(f"{where} has an empty key {key!r}")
    return record
