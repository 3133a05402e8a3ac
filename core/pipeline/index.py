"""The record index: a project's key → content hash map.

Its base is at most 256 bucket documents (`{pid}:{bucket:03d}`), each holding its entries
packed in one JSON text, so loading the previous state of a catalog costs a few hundred reads,
not one per record. A run that changes a few records appends its edits as delta documents
(`{pid}:d{seq:08d}`) and then rewrites one manifest document (`{pid}:manifest`) listing the
live deltas: what a run writes follows what it changed, not the size of the catalog, and the
single manifest write makes the run's deltas visible at once. Once the deltas outgrow a share
of the base they are folded into the buckets they touch (compaction).

A crash between any two writes leaves `load` giving every key its old or its new value:
- deltas written, manifest not: they are not listed, so `load` ignores them, and the next
  write reuses their seqs;
- buckets folded, manifest still listing the deltas: deltas hold absolute values, so applying
  them again over the folded buckets gives each key the value they gave it before;
- manifest emptied, deltas not yet deleted: not listed, as above.
The project's commit stays marked after such a crash, so the next run rebuilds the index from
the records (`rebuild`), which deletes every document of the index first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pymongo import ReplaceOne

from core.pipeline.hashing import BUCKETS, bucket_of
from core.store import Store
from core.versions import versioned

#: marks a key of the index as seen in the current scan
SEEN = -1
#: how many bucket documents are held in memory at once while rewriting them
BUCKETS_AT_ONCE = 16
#: entries packed in one delta document (about 200 KB)
ENTRIES_PER_DELTA = 5_000
#: live delta documents at most; a write that would pass it folds them into the base
MAX_DELTAS = 64
#: live delta entries at most, as a share of the base's entries, before they are folded
DELTA_SHARE = 0.2
#: a base with fewer entries than this is rewritten on every change, with no deltas
SMALL_BASE = 2_000

#: per key, the new hash, or None for a deleted key
Edits = dict[str, int | None]


def _bucket_id(project_id: str, bucket: int) -> str:
    return f"{project_id}:{bucket:03d}"


def _delta_id(project_id: str, seq: int) -> str:
    return f"{project_id}:d{seq:08d}"


def _manifest_id(project_id: str) -> str:
    return f"{project_id}:manifest"


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


def _by_bucket(
    upserts: Iterable[tuple[str, str | int]], deletes: Iterable[str]
) -> dict[int, Edits]:
    """The edits grouped by the bucket of their key; a key both upserted and deleted is
    deleted. Hashes come as hex digits or as ints and are held as ints."""
    changes: dict[int, Edits] = {}
    for key, digest in upserts:
        value = digest if isinstance(digest, int) else int(digest, 16)
        changes.setdefault(bucket_of(key), {})[key] = value
    for key in deletes:
        changes.setdefault(bucket_of(key), {})[key] = None
    return changes


@dataclass(frozen=True)
class Manifest:
    """What the index holds besides its buckets: the live deltas as (seq, entries) in seq
    order, and how many entries the base holds (to tell when to fold the deltas)."""

    base_entries: int
    deltas: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Manifest:
        deltas = tuple((int(seq), int(count)) for seq, count in doc.get("deltas", []))
        return cls(int(doc.get("base_entries", 0)), deltas)

    @property
    def delta_entries(self) -> int:
        return sum(count for _, count in self.deltas)

    @property
    def next_seq(self) -> int:
        return self.deltas[-1][0] + 1 if self.deltas else 1

    def folds(self, edited: int) -> bool:
        """Whether a write of `edited` entries should fold the deltas into the base rather
        than add to them."""
        new_deltas = -(-edited // ENTRIES_PER_DELTA)
        return (
            self.base_entries < SMALL_BASE
            or self.delta_entries + edited > DELTA_SHARE * self.base_entries
            or len(self.deltas) + new_deltas > MAX_DELTAS
        )


class RecordIndex:
    """Read and update one project's index. Hashes are held as ints while a run works (a
    million keys fit in about 130 MB) and stored as JSON integers."""

    def __init__(self, store: Store, project_id: str) -> None:
        self.store = store
        self.project_id = project_id

    def load(self) -> dict[str, int]:
        """The map: the base buckets, then the manifest's deltas in seq order."""
        known: dict[str, int] = {}
        manifest_id = _manifest_id(self.project_id)
        ids = [_bucket_id(self.project_id, bucket) for bucket in range(BUCKETS)]
        manifest: Manifest | None = None
        for doc in self.store.record_index.find({"_id": {"$in": [*ids, manifest_id]}}):
            if doc["_id"] == manifest_id:
                manifest = Manifest.of(doc)
            else:
                known.update(entries_of(doc))
        if manifest is not None:
            for key, value in self._delta_entries(manifest):
                if value is None:
                    known.pop(key, None)
                else:
                    known[key] = value
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
        """Record `upserts` (key, hash as hex digits or as an int) and `deletes`; returns how
        many documents of the index were written. Hashes are held as ints until written: a
        first import passes a million, sharing the ints of the run's map."""
        changes = _by_bucket(upserts, deletes)
        if not changes:
            return 0
        manifest = self._manifest()
        edited = sum(len(edits) for edits in changes.values())
        if manifest is None or manifest.folds(edited):
            return self._fold(changes, manifest)
        return self._append(changes, manifest)

    def rebuild(self, entries: Iterable[tuple[str, str]]) -> int:
        """Replace the whole index with `entries` (key, hex hash): buckets and a fresh manifest,
        no deltas. The manifest goes first, so no listed delta is ever missing."""
        self.store.record_index.delete_one({"_id": _manifest_id(self.project_id)})
        self.store.record_index.delete_many({"project_id": self.project_id})
        return self._fold(_by_bucket(entries, ()), None)

    def _manifest(self) -> Manifest | None:
        doc = self.store.record_index.find_one({"_id": _manifest_id(self.project_id)})
        return None if doc is None else Manifest.of(doc)

    def _write_manifest(self, manifest: Manifest) -> None:
        doc = {
            "_id": _manifest_id(self.project_id),
            "project_id": self.project_id,
            "base_entries": manifest.base_entries,
            "deltas": [list(delta) for delta in manifest.deltas],
            **versioned("record_index"),
        }
        self.store.record_index.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    def _delta_entries(self, manifest: Manifest) -> Iterator[tuple[str, int | None]]:
        """The entries of the manifest's deltas, in seq order (a later one wins)."""
        if not manifest.deltas:
            return
        ids = [_delta_id(self.project_id, seq) for seq, _ in manifest.deltas]
        docs = sorted(self.store.record_index.find({"_id": {"$in": ids}}), key=lambda d: d["delta"])
        for doc in docs:
            flat = json.loads(doc["packed"])
            yield from zip(flat[::2], flat[1::2], strict=True)

    def _append(self, changes: dict[int, Edits], manifest: Manifest) -> int:
        """Write the edits as new deltas, then the manifest that lists them."""
        flat = [item for edits in changes.values() for entry in edits.items() for item in entry]
        writes: list[Any] = []
        added: list[tuple[int, int]] = []
        for seq, start in enumerate(range(0, len(flat), 2 * ENTRIES_PER_DELTA), manifest.next_seq):
            chunk = flat[start : start + 2 * ENTRIES_PER_DELTA]
            doc = {
                "_id": _delta_id(self.project_id, seq),
                "project_id": self.project_id,
                "delta": seq,
                "packed": json.dumps(chunk, separators=(",", ":")),
                **versioned("record_index"),
            }
            writes.append(ReplaceOne({"_id": doc["_id"]}, doc, upsert=True))
            added.append((seq, len(chunk) // 2))
        self.store.record_index.bulk_write(writes, ordered=False)
        self._write_manifest(Manifest(manifest.base_entries, manifest.deltas + tuple(added)))
        return len(writes) + 1

    def _fold(self, changes: dict[int, Edits], manifest: Manifest | None) -> int:
        """Fold the live deltas and `changes` into the buckets they touch, then empty the
        manifest, then delete the deltas. `manifest` None: the index has none yet (a new
        project, or buckets an older syncfarm wrote), so the untouched buckets are counted."""
        pending: dict[int, Edits] = {}
        if manifest is not None:
            for key, value in self._delta_entries(manifest):
                pending.setdefault(bucket_of(key), {})[key] = value
        for bucket, edits in changes.items():
            if bucket in pending:
                pending[bucket].update(edits)
            else:
                pending[bucket] = edits
        buckets = sorted(pending)
        before = after = 0
        for start in range(0, len(buckets), BUCKETS_AT_ONCE):  # bounded memory
            was, now = self._rewrite(
                {b: pending[b] for b in buckets[start : start + BUCKETS_AT_ONCE]}
            )
            before, after = before + was, after + now
        if manifest is None:
            base = self._count_buckets(set(range(BUCKETS)) - set(buckets)) + after
        else:
            base = manifest.base_entries - before + after
        folded = Manifest(base)
        written = len(buckets)
        if folded != manifest:
            self._write_manifest(folded)
            written += 1
        if manifest is not None and manifest.deltas:
            ids = [_delta_id(self.project_id, seq) for seq, _ in manifest.deltas]
            self.store.record_index.delete_many({"_id": {"$in": ids}})
        return written

    def _rewrite(self, changes: dict[int, Edits]) -> tuple[int, int]:
        """Rewrite the buckets of `changes` with their edits; returns how many entries they
        held before and after."""
        ids = [_bucket_id(self.project_id, b) for b in changes]
        current = {
            doc["bucket"]: doc for doc in self.store.record_index.find({"_id": {"$in": ids}})
        }
        writes: list[Any] = []
        before = after = 0
        for bucket, edits in changes.items():
            entries = entries_of(current.get(bucket, {}))
            before += len(entries)
            for key, edit in edits.items():
                if edit is None:
                    entries.pop(key, None)
                else:
                    entries[key] = edit
            after += len(entries)
            doc = {
                "_id": _bucket_id(self.project_id, bucket),
                "project_id": self.project_id,
                "bucket": bucket,
                "packed": pack(entries),
                **versioned("record_index"),
            }
            writes.append(ReplaceOne({"_id": doc["_id"]}, doc, upsert=True))
        self.store.record_index.bulk_write(writes, ordered=False)
        return before, after

    def _count_buckets(self, buckets: set[int]) -> int:
        """How many entries the given buckets hold."""
        if not buckets:
            return 0
        ids = [_bucket_id(self.project_id, b) for b in sorted(buckets)]
        return sum(
            len(entries_of(doc)) for doc in self.store.record_index.find({"_id": {"$in": ids}})
        )
