"""Sorting the records a read finds against the project's previous state: inserted, updated or
unchanged, the changed ones to the run's spool."""

from __future__ import annotations

from typing import Any

from core.pipeline.hashing import content_hash_int
from core.pipeline.spool import RecordSpool
from plugins.base import Record

#: what changed is kept for the export up to this many records, or a quarter of the catalog
CHANGED_KEPT = 1000

INT64 = 2**63


def storable(value: Any) -> Any:
    """`value` with integers that BSON cannot hold (beyond 64 bits, e.g. a GTIN read from JSON
    as a number) written as their digits, so one odd value cannot fail a commit half-way."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -INT64 <= value < INT64 else str(value)
    if isinstance(value, dict):
        return {k: storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def storable_record(data: Record) -> Record:
    """`data`, or a copy that BSON can hold when a value is not text (see `storable`)."""
    for value in data.values():
        if type(value) is not str:
            return storable(data)  # type: ignore[no-any-return]
    return data


class Diff:
    """Sorts each record read into inserted, updated or unchanged against the previous state
    (`known`); changed records go to the spool. A key read is marked seen by storing its
    previous hash inverted (`~hash`, negative, as hashes are unsigned), so the map still holds
    every hash and can become the new index without a second load. A new key is entered the
    same way (its own hash inverted), so no second set of keys is held."""

    def __init__(self, known: dict[str, int], spool: RecordSpool, counts: dict[str, int]):
        self.known = known
        self.spool = spool
        self.counts = counts
        #: key → hash of what changed, while it stays small next to the catalog
        self.changed: dict[str, int] | None = {}
        self._keep_changed = max(CHANGED_KEPT, len(known) // 4)

    def add(self, key: str, data: Record) -> int | None:
        """The record's content hash; None when `key` was already read in this run."""
        previous = self.known.get(key)
        if previous is not None and previous < 0:
            return None
        data = storable_record(data)
        digest = content_hash_int(data)
        if previous is None:
            self.known[key] = ~digest
            self.counts["inserted"] += 1
            self._note(key, data, digest)
        else:
            self.known[key] = ~previous
            if previous != digest:
                self.counts["updated"] += 1
                self._note(key, data, digest)
            else:
                self.counts["unchanged"] += 1
        return digest

    def _note(self, key: str, data: Record, digest: int) -> None:
        self.spool.append(key, data, f"{digest:016x}")
        if self.changed is not None:
            self.changed[key] = digest
            if len(self.changed) > self._keep_changed:
                self.changed = None
