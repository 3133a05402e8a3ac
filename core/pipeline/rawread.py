"""Reading a source handed over as raw items (`plugins.base.RawItems`).

With a raw index of the previous import (`core/pipeline/rawindex.py`) at hand, an item whose
bytes hash to an entry of it is that entry's record, unchanged: it is neither parsed nor
hashed, nor even told apart by its key. Each such item crosses its entry off, so what is
left afterwards is the entries whose records changed or went. Only the other items (new or
changed bytes) are parsed and hashed, and sorted against those left over: same content
(e.g. other quoting) → unchanged, other content → updated, unknown key → inserted; entries
left over after that are deleted. A key read twice is refused as `read` would refuse it.

Without a usable raw index, every item is parsed and diffed against the record index as a
plain read does, and the raw index is built for the next import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from core.errors import ConnectorError
from core.pipeline.hashing import content_hash_int
from core.pipeline.rawindex import RawIndex, RawIndexWriter, raw_hash
from core.pipeline.spool import RecordSpool
from plugins.base import RawItems, Record

PROGRESS_EVERY = 5000


@dataclass
class RawRead:
    """What reading the raw items found."""

    deleted: list[str]
    #: records in the project before the read
    before: int
    #: key → content hash of the records inserted or updated
    changed: dict[str, int]
    #: keys the spool holds although they did not change (dropped when it is read)
    unchanged_in_spool: set[str] = field(default_factory=set)
    #: every item matched an entry: the raw index stays as it is (the writer was given nothing)
    index_unchanged: bool = False


class _Misses:
    """The items the raw index did not know: parsed, hashed, kept in a spool."""

    def __init__(
        self,
        items: RawItems,
        key_field: str,
        spool: RecordSpool,
        writer: RawIndexWriter,
        storable: Callable[[Record], Record],
    ) -> None:
        self.items = items
        self.key_field = key_field
        self.spool = spool
        self.writer = writer
        self.storable = storable
        #: key → (content hash, item number)
        self.found: dict[str, tuple[int, int]] = {}

    def add(self, item: bytes, where: int, raw: int, number: int) -> None:
        data = self.items.parse(item, where)
        if data is None:  # no record (e.g. a blank line)
            return
        value = data.get(self.key_field)
        if value is None or value == "":
            raise ConnectorError(f"a record of the primary source has no key {self.key_field!r}")
        key = str(value)
        if key in self.found:
            raise ConnectorError(f"duplicate key {key!r} at item {number} of the feed")
        data = self.storable(data)
        digest = content_hash_int(data)
        self.found[key] = (digest, number)
        self.spool.append(key, data, f"{digest:016x}")
        self.writer.add(raw, key, digest)


def read_known(
    items: RawItems,
    index: RawIndex,
    *,
    key_field: str,
    spool: RecordSpool,
    writer: RawIndexWriter,
    counts: dict[str, int],
    storable: Callable[[Record], Record],
    progress: Callable[[int, int | None], None],
) -> RawRead:
    """Read `items` against the raw index of the previous import (see the module)."""
    unseen = set(index.raws)
    misses = _Misses(items, key_field, spool, writer, storable)
    remove = unseen.remove
    number = 0
    for number, (item, where) in enumerate(items, start=1):  # noqa: B007 (used after)
        raw = raw_hash(item)
        try:
            remove(raw)
        except KeyError:
            misses.add(item, where, raw, number)
        if number % PROGRESS_EVERY == 0:
            progress(number, None)
    counts["read"] = len(misses.found) + len(index) - len(unseen)
    gaps = [i for i, raw in enumerate(index.raws) if raw in unseen] if unseen else []
    left = {index.keys[i].decode(): index.hashes[i] for i in gaps}
    _check_no_duplicates(index, set(gaps), misses.found, left)
    changed: dict[str, int] = {}
    same: set[str] = set()
    for key, (digest, _) in misses.found.items():
        previous = left.pop(key, None)
        if previous is None:
            counts["inserted"] += 1
            changed[key] = digest
        elif previous == digest:
            same.add(key)
        else:
            counts["updated"] += 1
            changed[key] = digest
    counts["unchanged"] = counts["read"] - counts["inserted"] - counts["updated"]
    if not misses.found and not unseen:
        return RawRead([], len(index), changed, same, index_unchanged=True)
    _keep_seen(index, gaps, writer)
    return RawRead(list(left), len(index), changed, same)


def _check_no_duplicates(
    index: RawIndex,
    gaps: set[int],
    found: dict[str, tuple[int, int]],
    left: dict[str, int],
) -> None:
    """A parsed key that is neither new nor left over was also read unchanged: twice.
    `gaps`: the positions of the entries no item matched."""
    suspects = {key.encode(): key for key in found if key not in left}
    if not suspects:
        return
    for i, key in enumerate(index.keys):
        if key in suspects and i not in gaps:
            name = suspects[key]
            raise ConnectorError(f"duplicate key {name!r} at item {found[name][1]} of the feed")


def _keep_seen(index: RawIndex, gaps: list[int], writer: RawIndexWriter) -> None:
    """Carry the entries items matched over to the next raw index, in runs between those
    left over (at `gaps`, in order)."""
    raws, hashes, keys = index.raws, index.hashes, index.keys
    start = 0
    for gap in [*gaps, len(raws)]:
        if gap > start:
            writer.extend(raws[start:gap], hashes[start:gap], keys[start:gap])
        start = gap + 1


def read_all(
    items: RawItems,
    *,
    add: Callable[[str, Record], int | None],
    key_field: str,
    writer: RawIndexWriter,
    counts: dict[str, int],
    progress: Callable[[int, int | None], None],
) -> None:
    """Read every item as a plain read does (`add` diffs a record against the record index
    and returns its content hash, None for a key read twice), building the raw index."""
    number = 0
    for item, where in items:
        data = items.parse(item, where)
        if data is None:
            continue
        number += 1
        value = data.get(key_field)
        if value is None or value == "":
            raise ConnectorError(f"a record of the primary source has no key {key_field!r}")
        key = str(value)
        digest = add(key, data)
        if digest is None:
            raise ConnectorError(f"duplicate key {key!r} at item {number} of the feed")
        writer.add(raw_hash(item), key, digest)
        if number % PROGRESS_EVERY == 0:
            progress(number, None)
    counts["read"] = number
