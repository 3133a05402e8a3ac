"""Project documents other than catalog records: orders, shipments… one collection, keyed
naturally (`<project>:<kind>:<key>`), so an order read twice is stored once.

Each document has `data` (as the platform gave it, with a content hash deciding whether a new
read changed it) and `marks` (what syncfarm did with it: delivered to a warehouse, shipment
uploaded…), which a later read never erases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pymongo import ReplaceOne

from core.clock import now_ms
from core.order_time import order_time
from core.pipeline.hashing import content_hash
from core.store import Store
from core.versions import versioned

BATCH = 500


class ProjectDocuments:
    def __init__(
        self, store: Store, project_id: str, kind: str, connection_id: str | None = None
    ) -> None:
        self.store = store
        self.project_id = project_id
        self.kind = kind
        #: the connection whose task stores the documents (kept from the first store)
        self.connection_id = connection_id

    def _id(self, key: str) -> str:
        return f"{self.project_id}:{self.kind}:{key}"

    def upsert_many(self, items: list[tuple[str, dict[str, Any]]]) -> dict[str, int]:
        """Store (key, data) pairs idempotently; returns inserted / updated / unchanged."""
        counts = {"inserted": 0, "updated": 0, "unchanged": 0}
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            ids = [self._id(key) for key, _ in chunk]
            known = {doc["_id"]: doc for doc in self.store.documents.find({"_id": {"$in": ids}})}
            writes: list[Any] = []
            now = now_ms()
            for key, data in chunk:
                digest = content_hash(data)
                old = known.get(self._id(key))
                if old is not None and old["hash"] == digest:
                    counts["unchanged"] += 1
                    continue
                counts["updated" if old else "inserted"] += 1
                doc = {
                    "_id": self._id(key),
                    "project_id": self.project_id,
                    "kind": self.kind,
                    "key": key,
                    "data": data,
                    "hash": digest,
                    "marks": (old or {}).get("marks", {}),
                    "connection_id": (old or {}).get("connection_id") or self.connection_id,
                    "ordered_at": order_time(data, (old or {}).get("created_at", now)),
                    "created_at": (old or {}).get("created_at", now),
                    "updated_at": now,
                    **versioned("documents"),
                }
                writes.append(ReplaceOne({"_id": doc["_id"]}, doc, upsert=True))
            if writes:
                self.store.documents.bulk_write(writes, ordered=False)
        return counts

    def get(self, key: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = self.store.documents.find_one({"_id": self._id(key)})
        return doc

    def mark(self, key: str, **marks: Any) -> None:
        """Record what was done with a document (e.g. `delivered_to=<connection>`)."""
        self.store.documents.update_one(
            {"_id": self._id(key)},
            {"$set": {f"marks.{name}": value for name, value in marks.items()}},
        )

    def without_mark(self, mark: str) -> Iterator[dict[str, Any]]:
        """The documents not yet marked `mark`, oldest first."""
        query = {"project_id": self.project_id, "kind": self.kind}
        for doc in self.store.documents.find(query).sort("created_at", 1):
            if mark not in doc.get("marks", {}):
                yield doc

    def count(self) -> int:
        return self.store.documents.count_documents(
            {"project_id": self.project_id, "kind": self.kind}
        )
