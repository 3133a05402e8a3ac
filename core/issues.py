"""Issues: per-record, per-channel problems with the platform's own code and message.

One open issue per (connection, record); a later success clears it. Source problems (a broken
feed) are issues of the source connection with the record key `*`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo import DeleteOne, UpdateOne

from core.clock import now_ms
from core.store import Store
from core.versions import versioned

WHOLE_SOURCE = "*"


def issue_id(connection_id: str, key: str) -> str:
    return f"{connection_id}:{key}"


def record_issues(
    store: Store,
    project_id: str,
    connection_id: str,
    problems: Iterable[tuple[str, str | None, str | None]],
    *,
    run_id: str | None = None,
    needs_person: set[str] | None = None,
) -> int:
    """Open or update issues for (key, code, message) triples; returns how many. Keys in
    `needs_person` are marked so: retrying stopped, a person must act then reset them."""
    stopped = needs_person or set()
    now = now_ms()
    writes: list[Any] = []
    for key, code, message in problems:
        writes.append(
            UpdateOne(
                {"_id": issue_id(connection_id, key)},
                {
                    "$set": {
                        "project_id": project_id,
                        "connection_id": connection_id,
                        "key": key,
                        "code": code,
                        "message": message,
                        "last_seen": now,
                        "run_id": run_id,
                        "needs_person": key in stopped,
                        **versioned("issues"),
                    },
                    "$setOnInsert": {"first_seen": now},
                    "$inc": {"count": 1},
                },
                upsert=True,
            )
        )
    if writes:
        store.issues.bulk_write(writes, ordered=False)
    return len(writes)


def clear_issues(store: Store, connection_id: str, keys: Iterable[str]) -> None:
    writes = [DeleteOne({"_id": issue_id(connection_id, key)}) for key in keys]
    for start in range(0, len(writes), 1000):
        store.issues.bulk_write(writes[start : start + 1000], ordered=False)
