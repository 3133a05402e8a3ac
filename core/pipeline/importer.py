"""The import half of a run: sources → a diff against the project's database → commit.

Reading changes nothing: changed records go to a spool on disk, and the database is written
only by `commit`, after the whole feed was read and judged sane. A commit marks the project
first (`commit_run_id`), so a commit cut short by a crash is noticed by the next run, which
then rebuilds its view from the records themselves and recomputes every channel's changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import ReplaceOne

from core.clock import now_ms
from core.errors import ConnectorError, RunHeld
from core.pipeline import rawindex
from core.pipeline.diff import Diff, storable_record
from core.pipeline.index import RecordIndex
from core.pipeline.rawread import read_all, read_known
from core.pipeline.spool import KeyedRecords, RecordSpool
from core.store import Store
from core.versions import versioned
from plugins.base import Connector, RawItems, Record

WRITE_BATCH = 1000
PROGRESS_EVERY = 5000
DEFAULT_SHRINK_PCT = 50


@dataclass
class ImportResult:
    counts: dict[str, int]
    spool: RecordSpool
    deleted: list[str]
    before: int
    recovering: bool  # a previous commit was cut short: changes must be recomputed in full
    failed_sources: list[tuple[str, str]] = field(default_factory=list)
    #: key → hash of every record read (seen keys hold `~hash`, see `Diff`); once `commit`
    #: is done, the index as it now stands, for the export to use instead of loading it again
    hashes: dict[str, int] | None = None
    #: key → new hash of the records inserted or updated; None when too many to keep
    changed: dict[str, int] | None = None
    #: the raw index for the next import of the primary source, installed by `finish_commit`
    raw_index: rawindex.RawIndexWriter | None = None
    #: the generation of the records before and after the commit (see `generation_after`)
    generation_before: str | None = None
    generation_after: str | None = None


class Importer:
    """Reads the project's sources and commits what changed.

    Parameters:
      connector_for: builds the connector of a connection.
      progress: called with (records done, total or None) while reading.
      workdir: where spools live while the run works.
      cache_dir: where the project's raw indexes live (see `core/pipeline/rawindex.py`);
        None reads every source in full.
    """

    def __init__(
        self,
        store: Store,
        project: dict[str, Any],
        connections: list[dict[str, Any]],
        *,
        connector_for: Callable[[dict[str, Any]], Connector],
        progress: Callable[[int, int | None], None],
        workdir: Path,
        cache_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.project = project
        self.connections = connections
        self.connector_for = connector_for
        self.progress = progress
        self.workdir = workdir
        self.index = RecordIndex(store, project["_id"])

    def _by_role(self, role: str) -> list[dict[str, Any]]:
        return [c for c in self.connections if c["role"] == role]

    def read(self) -> ImportResult:
        primaries = self._by_role("source")
        if not primaries:
            raise ConnectorError("the project has no source connection to import from")
        recovering = bool(self.project.get("commit_run_id"))
        if not recovering and self.cache_dir is not None and len(self._sources()) == 1:
            source = self.connector_for(primaries[0])
            with source.raw_items() as items:
                if items is not None:
                    return self._read_raw(items, source.key_field, primaries[0])
        known = self.index.load_from_records() if recovering else self.index.load()
        before = len(known)
        extras = self._read_keyed(self._by_role("secondary") + self._by_role("combined"))
        secondaries = [extras[c["_id"]] for c in self._by_role("secondary")]
        combined = [extras[c["_id"]] for c in self._by_role("combined")]
        spool = RecordSpool(self.workdir)
        counts = {"read": 0, "inserted": 0, "updated": 0, "unchanged": 0, "deleted": 0}
        try:
            diff = Diff(known, spool, counts)
            source = self.connector_for(primaries[0])
            records = self._joined(source, secondaries, combined)
            for number, (key, data) in enumerate(records, start=1):
                if diff.add(key, data) is None:
                    raise ConnectorError(f"duplicate key {key!r} at item {number} of the feed")
                counts["read"] = number
                if number % PROGRESS_EVERY == 0:
                    self.progress(number, None)
            # Records that only combined sources have join the catalog too.
            for extra in combined:
                for key, data in extra:
                    if diff.add(key, data) is not None:
                        counts["read"] += 1
        except BaseException:
            spool.close()
            raise
        finally:
            for keyed in extras.values():
                keyed.close()
        deleted = [key for key, value in known.items() if value >= 0]
        try:
            self._judge(counts, before, deleted)
        except RunHeld:
            spool.close()
            raise
        return ImportResult(
            counts,
            spool,
            deleted,
            before,
            recovering,
            hashes=known,
            changed=diff.changed,
            generation_before=self.project.get("index_generation"),
        )

    def _sources(self) -> list[dict[str, Any]]:
        return [c for c in self.connections if c["role"] in ("source", "secondary", "combined")]

    def _read_raw(self, items: RawItems, key_field: str, source: dict[str, Any]) -> ImportResult:
        """Read the primary source as raw items (see `core/pipeline/rawread.py`)."""
        assert self.cache_dir is not None
        path = rawindex.index_path(self.cache_dir, source["_id"])
        generation = self.project.get("index_generation")
        previous = None
        if not self.project.get("full_rescan"):  # "reset clocks" parses every item again
            previous = rawindex.load(path, items.fingerprint, generation)
        writer = rawindex.RawIndexWriter(path, items.fingerprint)
        spool = RecordSpool(self.workdir)
        counts = {"read": 0, "inserted": 0, "updated": 0, "unchanged": 0, "deleted": 0}
        hashes: dict[str, int] | None = None
        changed: dict[str, int] | None
        keep: rawindex.RawIndexWriter | None = writer
        try:
            if previous is not None:
                found = read_known(
                    items,
                    previous,
                    key_field=key_field,
                    spool=spool,
                    writer=writer,
                    counts=counts,
                    storable=storable_record,
                    progress=self.progress,
                )
                del previous
                spool.leave_out(found.unchanged_in_spool)
                deleted, before, changed = found.deleted, found.before, found.changed
                if found.index_unchanged:
                    writer.discard()
                    keep = None
            else:
                hashes = self.index.load()
                before = len(hashes)
                diff = Diff(hashes, spool, counts)
                read_all(
                    items,
                    add=diff.add,
                    key_field=key_field,
                    writer=writer,
                    counts=counts,
                    progress=self.progress,
                )
                deleted = [key for key, value in hashes.items() if value >= 0]
                changed = diff.changed
            self._judge(counts, before, deleted)
        except BaseException:
            spool.close()
            writer.discard()
            raise
        return ImportResult(
            counts,
            spool,
            deleted,
            before,
            False,
            hashes=hashes,
            changed=changed,
            raw_index=keep,
            generation_before=generation,
        )

    def _read_keyed(self, connections: list[dict[str, Any]]) -> dict[str, KeyedRecords]:
        """Secondary and combined sources, fetched in parallel into keyed stores."""
        stores = {c["_id"]: KeyedRecords(self.workdir, c["_id"]) for c in connections}

        def fetch(connection: dict[str, Any]) -> None:
            connector = self.connector_for(connection)
            key_field = connector.key_field
            try:
                rows = ((self._key(row, key_field, connection), row) for row in connector.read())
                stores[connection["_id"]].put_all(rows)
            except ConnectorError as exc:
                raise ConnectorError(f"{connection['name']}: {exc.message}") from exc

        try:
            with ThreadPoolExecutor(max_workers=min(4, len(connections) or 1)) as pool:
                for future in [pool.submit(fetch, c) for c in connections]:
                    future.result()
        except BaseException:
            for keyed in stores.values():
                keyed.close()
            raise
        return stores

    @staticmethod
    def _key(row: Record, key_field: str, connection: dict[str, Any]) -> str:
        value = row.get(key_field)
        if value is None or value == "":
            raise ConnectorError(
                f"{connection['name']}: a record has no key {key_field!r}; set `key`"
            )
        return str(value)

    def _joined(
        self,
        source: Connector,
        secondaries: list[KeyedRecords],
        combined: list[KeyedRecords],
    ) -> Iterator[tuple[str, Record]]:
        """Primary records enriched by secondaries (their fields win) and filled from combined
        sources (only fields the primary lacks)."""
        key_field = source.key_field
        for row in source.read():
            value = row.get(key_field)
            if value is None or value == "":
                raise ConnectorError(f"a record of the primary source has no key {key_field!r}")
            key = str(value)
            if not (combined or secondaries):
                yield key, row
                continue
            data = dict(row)
            for extra in combined:
                found = extra.get(key)
                if found:
                    for name, field_value in found.items():
                        data.setdefault(name, field_value)
            for extra in secondaries:
                found = extra.get(key)
                if found:
                    data.update({k: v for k, v in found.items() if k != key_field})
            yield key, data

    def _judge(self, counts: dict[str, int], before: int, deleted: list[str]) -> None:
        """The read is done: count what it deletes, and hold the run if that is too much."""
        counts["deleted"] = len(deleted)
        self.progress(counts["read"], counts["read"])
        self._check_shrink(before, counts["read"], len(deleted))

    def _check_shrink(self, before: int, read: int, deleting: int) -> None:
        """Hold the run, changing nothing, when the feed is empty or lost too many records:
        far more often a broken feed than a merchant emptying a catalog."""
        if before == 0:
            return
        if read == 0:
            raise RunHeld(
                f"the feed is empty but the project has {before} records; nothing was "
                "deleted. Check the source, then run again"
            )
        threshold_pct = int(self.project.get("shrink_threshold_pct", DEFAULT_SHRINK_PCT))
        if deleting * 100 > before * threshold_pct:
            raise RunHeld(
                f"the feed would delete {deleting} of {before} records "
                f"({deleting * 100 // before} %), more than the project's threshold of "
                f"{threshold_pct} %; nothing was changed. Check the source, or raise "
                "`shrink_threshold_pct` on the project, then run again"
            )

    def commit(self, result: ImportResult, run_id: str) -> dict[str, int]:
        """Write the changed records, drop the deleted ones and update the index."""
        pid = self.project["_id"]
        self.store.projects.update_one({"_id": pid}, {"$set": {"commit_run_id": run_id}})
        result.generation_after = result.generation_before
        if (
            result.spool.count
            or result.deleted
            or result.recovering
            or result.generation_before is None
        ):
            result.generation_after = run_id
        written = self._write_records(result.spool)
        for start in range(0, len(result.deleted), WRITE_BATCH):
            ids = [f"{pid}:{key}" for key in result.deleted[start : start + WRITE_BATCH]]
            self.store.records.delete_many({"_id": {"$in": ids}})
        if result.recovering:
            buckets = self.index.rebuild(
                (doc["key"], doc["hash"])
                for doc in self.store.records.find({"project_id": pid}, {"key": 1, "hash": 1})
            )
            result.hashes = None
        else:
            known = result.hashes
            upserts: Iterable[tuple[str, str | int]] = ((k, h) for k, _, h in result.spool)
            if result.changed is not None:
                upserts = result.changed.items()
            if known is not None:
                upserts = self._noted(result.spool, known)
            buckets = self.index.apply(upserts, result.deleted)
            result.hashes = self._new_index(known, result.deleted)
        return {
            "records_written": written,
            "records_deleted": len(result.deleted),
            "index_buckets_written": buckets,
        }

    @staticmethod
    def _noted(spool: RecordSpool, known: dict[str, int]) -> Iterator[tuple[str, str | int]]:
        """(key, hash) of the written records, each noted in `known`; the index holds the
        same int, not a second copy."""
        for key, _, digest in spool:
            known[key] = value = int(digest, 16)
            yield key, value

    @staticmethod
    def _new_index(known: dict[str, int] | None, deleted: list[str]) -> dict[str, int] | None:
        """The index after the commit, from the map the diff worked on (written records
        already noted): the entries `RecordIndex.load` would return now."""
        if known is None:
            return None
        for key, value in known.items():
            if value < 0:
                known[key] = ~value
        for key in deleted:
            known.pop(key, None)
        return known

    def _write_records(self, spool: RecordSpool) -> int:
        """Write the spooled records, a batch at a time; each batch goes to the database from
        a second thread while the next one is built (the wait on the database and the work
        of building overlap). Returns how many were written."""
        pid = self.project["_id"]
        now = now_ms()
        writes: list[Any] = []
        written = 0
        with ThreadPoolExecutor(max_workers=1) as writer:
            sending: Future[int] | None = None
            for key, data, digest in spool:
                doc = {
                    "_id": f"{pid}:{key}",
                    "project_id": pid,
                    "key": key,
                    "data": data,
                    "hash": digest,
                    "updated_at": now,
                    **versioned("records"),
                }
                writes.append(ReplaceOne({"_id": doc["_id"]}, doc, upsert=True))
                if len(writes) >= WRITE_BATCH:
                    written += sending.result() if sending is not None else 0
                    sending = writer.submit(self._send, writes)
                    writes = []
            written += sending.result() if sending is not None else 0
        return written + self._send(writes)

    def _send(self, writes: list[Any]) -> int:
        if writes:
            self.store.records.bulk_write(writes, ordered=False)
        return len(writes)

    def finish_commit(self, result: ImportResult) -> None:
        """The commit is whole: the project's records are at `result.generation_after`, and
        the raw index read on the way describes them."""
        self.store.projects.update_one(
            {"_id": self.project["_id"]},
            {"$set": {"commit_run_id": None, "index_generation": result.generation_after}},
        )
        if result.raw_index is not None and result.generation_after is not None:
            result.raw_index.install(result.generation_after)
            result.raw_index = None
