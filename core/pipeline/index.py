"""The record index: a project's key → content hash map, in at most 256 bucket documents,
each holding its entries packed in one JSON text.

Loading the previous state of a catalog therefore costs a few hundred reads, not one per
record, and a run that changed a few records rewrites only the buckets they fall in.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pymongo import ReplaceOne

from core.pipeline.hashing import BUCKETS, bucket_of
from core.store import Store
from core.versions import versioned

#: marks a key of the index as seen in the current scan
SEEN = -1
#: how many bucket documents are held in memory at once while rewriting them
BUCKETS_AT_ONCE = 16


def _bucket_id(project_id: str, bucket: int) -> str:
    return f"{project_id}:{bucket:03d}"


def pack(entries: dict[str, int]) -> str:
    """A bucket's entries as one JSON text, `[key, hash, key, hash, …]` (hashes as integers):
    one string field decodes far faster, on both sides of the wire, than a list of pairs."""
    return json.dumps([item for entry in entries.items() for item in entry], separators=(",", ":"))


def entries_of(doc: dict[str, Any]) -> dict[str, int]:
    """The key → hash entries of a bucket document, packed (version 2) or as the list of
    [key, hex hash] pairs that version 1 wrote."""
    packed = doc.get("packed")
    if packed is not None:
        flat = json.loads(packed)
        return dict(zip(flat[::2], flat[1::2], strict=True))
    return {key: int(digest, 16) for key, digest in doc.get("entries", [])}


class RecordIndex:
    """Read and update one project's index. Hashes are held as ints while a run works (a
    million keys fit in about 130 MB) and stored as 16 hex digits."""

    def __init__(self, store: Store, project_id: str) -> None:
        self.store = store
        self.project_id = project_id

    def load(self) -> dict[str, int]:
        known: dict[str, int] = {}
        ids = [_bucket_id(self.project_id, bucket) for bucket in range(BUCKETS)]
        for doc in self.store.record_index.find({"_id": {"$in": ids}}):
            known.update(entries_of(doc))
        return known

    def load_from_records(self) -> dict[str, int]:
        """Rebuild the map from the records themselves (after an interrupted commit)."""
        return {
            doc["key"]: int(doc["hash"], 16)
            for doc in self.store.records.find(
                {"project_id": self.project_id}, {"key": 1, "hash": 1}
            )
        }

    def apply(self, upserts: Iterable[tuple[str, str | int]], deletes: Iterable[str]) -> int:
        """Write the buckets touched by `upserts` (key, hash as hex digits or as an int) and
        `deletes`; returns how many bucket documents were written. Hashes are held as ints
        until written: a first import passes a million, sharing the ints of the run's map."""
        changes: dict[int, dict[str, int | None]] = defaultdict(dict)
        for key, digest in upserts:
            changes[bucket_of(key)][key] = digest if isinstance(digest, int) else int(digest, 16)
        for key in deletes:
            changes[bucket_of(key)][key] = None
        if not changes:
            return 0
        buckets = sorted(changes)
        for start in range(0, len(buckets), BUCKETS_AT_ONCE):  # bounded memory
            self._rewrite({b: changes[b] for b in buckets[start : start + BUCKETS_AT_ONCE]})
        return len(buckets)

    def _rewrite(self, changes: dict[int, dict[str, int | None]]) -> None:
        ids = [_bucket_id(self.project_id, b) for b in changes]
        current = {
            doc["bucket"]: doc for doc in self.store.record_index.find({"_id": {"$in": ids}})
        }
        writes: list[Any] = []
        for bucket, edits in changes.items():
            entries = entries_of(current.get(bucket, {}))
            for key, edit in edits.items():
                if edit is None:
                    entries.pop(key, None)
                else:
                    entries[key] = edit
            doc = {
                "_id": _bucket_id(self.project_id, bucket),
                "project_id": self.project_id,
                "bucket": bucket,
                "packed": pack(entries),
                **versioned("record_index"),
            }
            writes.append(ReplaceOne({"_id": doc["_id"]}, doc, upsert=True))
        self.store.record_index.bulk_write(writes, ordered=False)

    def rebuild(self, entries: Iterable[tuple[str, str]]) -> int:
        """Replace the whole index with `entries` (key, hex hash)."""
        self.store.record_index.delete_many({"project_id": self.project_id})
        return self.apply(entries, ())
