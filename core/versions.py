"""Schema versions: every stored document carries `schema_version`, the shape it was written in.

Writers stamp documents with `stamp(collection, doc)` (or spread `versioned(collection)` into a
document or a `$set`); the data-integrity job (`core.maintenance`) upgrades documents below the
current version of their collection with registered migration steps. A document without the
field is version 0: written by a syncfarm from before versions.

Raise a collection's number here together with a migration step from the previous version.
"""

from __future__ import annotations

from typing import Any

FIELD = "schema_version"

#: the version a document of each collection is written in today
CURRENT: dict[str, int] = {
    "tenants": 1,
    "api_keys": 1,
    "projects": 1,
    "connections": 1,
    "jobs": 1,
    "runs": 1,
    "records": 1,
    "record_index": 2,  # 2: entries packed in one JSON text (core.pipeline.index)
    "changes": 1,
    "issues": 1,
    "task_state": 1,
    "events": 1,
    "documents": 1,
}


def current_version(collection: str) -> int:
    """The version documents of `collection` are written in; KeyError for an unknown name."""
    return CURRENT[collection]


def versioned(collection: str) -> dict[str, int]:
    """`{"schema_version": N}` for `collection`, to spread into a document or a `$set`."""
    return {FIELD: CURRENT[collection]}


def stamp(collection: str, doc: dict[str, Any]) -> dict[str, Any]:
    """`doc`, stamped in place with the current version of `collection`, and returned."""
    doc[FIELD] = CURRENT[collection]
    return doc


def version_of(doc: dict[str, Any]) -> int:
    """The version a stored document was written in; 0 when it predates versions."""
    value = doc.get(FIELD)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
