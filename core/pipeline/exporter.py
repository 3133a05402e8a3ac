"""The export half of a run: file channels get the whole catalog, API channels their changes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from core.clock import now_ms
from core.errors import ConnectorError
from core.issues import clear_issues, record_issues
from core.pipeline.catalog import ChannelCatalog
from core.pipeline.changes import (
    ChangeState,
    ChannelChanges,
    changes_in_states,
)
from core.pipeline.channel_view import rules_fingerprint
from core.pipeline.hashing import content_hash
from core.store import Store
from plugins.base import CatalogDelta, Change, Connector, Record

ACK_BATCH = 1000
BROKEN_SEND_BACKOFF_MS = 15 * 60 * 1000


@dataclass
class Deferred:
    """Changes a run's commit left unwritten for file channels it publishes next: written
    once, after the publication (see `Exporter.export_file` and `ChannelChanges.defer`)."""

    channel_ids: set[str]
    #: the records the commit changed (key, data or None when deleted); may be read again
    items: Callable[[], Iterable[tuple[str, Record | None]]]
    #: channels whose every change is to be recomputed (`ChannelChanges.recompute`)
    full: set[str]


def _unguarded() -> None:
    return None


class Exporter:
    def __init__(
        self,
        store: Store,
        project: dict[str, Any],
        *,
        connector_for: Callable[[dict[str, Any]], Connector],
        key_field: str,
        run_id: str,
        retry_every_failed: bool = False,
        index: dict[str, int] | None = None,
        deferred: Deferred | None = None,
        delta: CatalogDelta | None = None,
        written: Callable[[], Iterable[tuple[str, Record, str]]] | None = None,
    ) -> None:
        self.store = store
        self.project = project
        self.connector_for = connector_for
        self.key_field = key_field
        self.run_id = run_id
        self.retry_every_failed = retry_every_failed
        #: the record index this run's import committed (key → hash), when it imported
        self.index = index
        self.deferred = deferred
        #: what this run's commit changed, when it knows (see `plugins.base.CatalogDelta`)
        self.delta = delta
        #: the records this run's commit wrote (key, data, hex hash), when it can be read
        self.written = written
        #: called before writes that need the run to still hold its project
        self.guard: Callable[[], None] = _unguarded

    def changes_of(self, channel: dict[str, Any]) -> ChannelChanges:
        changes = ChannelChanges(self.store, self.project, channel, self.key_field)
        if changes.needs_recompute():
            changes.recompute()
        return changes

    def export_file(self, channel: dict[str, Any]) -> dict[str, int]:
        """Publish the channel's view of the catalog; then every open change is delivered.
        When nothing changed for it since its last publication (no open change, same settings
        and rules, the file still there), the catalog is not read again.

        When this run's commit deferred the channel's changes (`Deferred`), they are written
        after the file is in place, each once and already done; when the publication fails,
        they are written pending, as a commit writes them."""
        deferred = (
            self.deferred if self.deferred and channel["_id"] in self.deferred.channel_ids else None
        )
        if deferred is None:
            changes = self.changes_of(channel)
        else:  # a recompute, if one is due, is deferred as well
            changes = ChannelChanges(self.store, self.project, channel, self.key_field)
        connector = self.connector_for(channel)
        fingerprint = content_hash(
            [channel.get("settings"), rules_fingerprint(self.project, channel)]
        )
        open_states = [ChangeState.PENDING.value, ChangeState.FAILED.value]
        if (
            deferred is None
            and not changes.has_any(open_states)
            and channel.get("published_fingerprint") == fingerprint
            and connector.published()
        ):
            return {"written": 0, "unchanged": 1}
        held_back = {
            doc["key"]
            for doc in changes_in_states(
                self.store, channel["_id"], [ChangeState.UNAPPROVED], {"key": 1}
            )
        }
        catalog = ChannelCatalog(
            self.store,
            self.project,
            channel,
            changes,
            held_back,
            index=self.index,
            delta=self.delta,
            written=self.written,
        )
        with ThreadPoolExecutor(max_workers=1) as reader:
            # The change documents the deferred changes replace are read while the file is
            # rendered and written (the database's time and this process's overlap).
            read = None
            if deferred is not None and channel["_id"] not in deferred.full and self.delta:
                keys = [*self.delta.changed, *self.delta.deleted]
                read = reader.submit(changes.read_changes, keys)
            try:
                counts = connector.publish(catalog)
            except Exception:
                self.write_deferred([channel])
                raise
            prefetched = None if read is None else read.result()
        with_issues = {
            d["key"] for d in self.store.issues.find({"connection_id": channel["_id"]}, {"key": 1})
        }
        if deferred is not None:
            deferred.channel_ids.discard(channel["_id"])
            if channel["_id"] in deferred.full:
                found = changes.recompute(delivered=True, guard=self.guard, keys=self.index)
            else:
                found = changes.update(
                    deferred.items(), delivered=True, guard=self.guard, read=prefetched
                )
            for op in ("insert", "update", "delete"):
                counts[f"changes_{op}"] = found[op]
            counts["acknowledged"] = len(changes.delivered_keys)
            clear_issues(
                self.store, channel["_id"], (k for k in changes.delivered_keys if k in with_issues)
            )
        for state in open_states:  # one state at a time: see `changes_in_states`
            while True:  # acknowledged in batches: a first publication may deliver millions
                batch = list(
                    self.store.changes.find(
                        {"connection_id": channel["_id"], "state": state}
                    ).limit(ACK_BATCH)
                )
                if not batch:
                    break
                self.guard()
                acked = changes.acknowledge((d, True, None, None) for d in batch)
                for name, value in acked.items():
                    counts[name] = counts.get(name, 0) + value
                clear_issues(
                    self.store,
                    channel["_id"],
                    (d["key"] for d in batch if d["key"] in with_issues),
                )
        published = {"published_fingerprint": fingerprint}
        if deferred is not None:
            changes.settled(self.run_id, published)
        else:
            self.store.connections.update_one({"_id": channel["_id"]}, {"$set": published})
        return counts

    def write_deferred(self, channels: list[dict[str, Any]]) -> None:
        """Write pending, as a commit does, the deferred changes of these channels that did
        not publish (their publication, or an earlier channel's, failed)."""
        if self.deferred is None:
            return
        for channel in channels:
            if channel["_id"] in self.deferred.channel_ids:
                self.guard()
                changes = ChannelChanges(self.store, self.project, channel, self.key_field)
                # a run fenced out meanwhile stops here: its note stays, so the run holding
                # the project now recomputes this channel's changes
                if channel["_id"] in self.deferred.full:
                    changes.recompute(keys=self.index, guard=self.guard)
                else:
                    changes.update(self.deferred.items(), guard=self.guard)
                changes.settled(self.run_id)
                self.deferred.channel_ids.discard(channel["_id"])

    def send(self, channel: dict[str, Any]) -> dict[str, int]:
        """Send pending (and previously failed) changes; each record succeeds or fails alone."""
        changes = self.changes_of(channel)
        connector = self.connector_for(channel)
        deletes_as = "delete" if channel.get("real_deletes") else "delist"
        counts = {"sent": 0, "acknowledged": 0, "failed": 0, "stopped": 0, "submitted": 0}
        batch: list[dict[str, Any]] = []
        for doc in changes.due_changes(now_ms(), every_failed=self.retry_every_failed):
            batch.append(doc)
            if len(batch) >= connector.send_batch:
                self._send_batch(channel, changes, connector, batch, deletes_as, counts)
                batch = []
        self._send_batch(channel, changes, connector, batch, deletes_as, counts)
        return counts

    def _send_batch(
        self,
        channel: dict[str, Any],
        changes: ChannelChanges,
        connector: Connector,
        batch: list[dict[str, Any]],
        deletes_as: str,
        counts: dict[str, int],
    ) -> None:
        if not batch:
            return
        ids = [f"{self.project['_id']}:{doc['key']}" for doc in batch if doc["op"] != "delete"]
        data = {d["key"]: d["data"] for d in self.store.records.find({"_id": {"$in": ids}})}
        outgoing = []
        for doc in batch:
            if doc["op"] == "delete":
                outgoing.append(Change(doc["key"], deletes_as, None, None))
            else:
                view = changes.view(data.get(doc["key"]))
                if doc["op"] == "update" and view is not None:
                    # a channel's read-only fields are its own: an update never overwrites them
                    view = {k: v for k, v in view.items() if k not in changes.read_only}
                outgoing.append(Change(doc["key"], doc["op"], view, doc["hash"]))
        by_key: dict[str, dict[str, Any] | None] = {doc["key"]: doc for doc in batch}
        results: list[tuple[dict[str, Any], bool | None, str | None, str | None]] = []
        tickets: dict[str, str] = {}
        for result in connector.send(outgoing):
            sent = by_key.pop(result.key, None)
            if sent is None:
                raise ConnectorError(
                    f"channel {channel['name']!r} answered for record {result.key!r}, "
                    "which it was not sent"
                )
            if result.ok is None:
                if not result.ticket:
                    raise ConnectorError(
                        f"channel {channel['name']!r} deferred record {result.key!r} without "
                        "a ticket to ask for its result"
                    )
                tickets[result.key] = result.ticket
            results.append((sent, result.ok, result.code, result.message))
        for missing in by_key.values():
            if missing is not None:
                results.append(
                    (missing, False, "no_result", "the channel gave no result for this record")
                )
        counts["sent"] += len(batch)
        for name, value in self.settle(channel, changes, results, tickets).items():
            counts[name] += value

    def back_off(self, channel: dict[str, Any]) -> None:
        """A send that broke as a whole (platform down, credentials refused) pushes its due
        failed changes back, so retry runs do not follow each other every few seconds."""
        later = now_ms() + BROKEN_SEND_BACKOFF_MS
        self.store.changes.update_many(
            {
                "connection_id": channel["_id"],
                "state": ChangeState.FAILED.value,
                "next_attempt_at": {"$lte": now_ms()},
            },
            {"$set": {"next_attempt_at": later}},
        )

    def settle(
        self,
        channel: dict[str, Any],
        changes: ChannelChanges,
        results: list[tuple[dict[str, Any], bool | None, str | None, str | None]],
        tickets: dict[str, str] | None = None,
    ) -> dict[str, int]:
        """Acknowledge what the channel said, and open or clear the records' issues."""
        acked = changes.acknowledge(results, tickets)
        clear_issues(self.store, channel["_id"], (d["key"] for d, ok, _, _ in results if ok))
        record_issues(
            self.store,
            self.project["_id"],
            channel["_id"],
            ((d["key"], code, message) for d, ok, code, message in results if ok is False),
            run_id=self.run_id,
            needs_person=changes.stopped_keys,
        )
        return acked


class FencedExporter(Exporter):
    """An Exporter whose acknowledgements happen only while the run holds its project."""

    def __init__(self, guard: Callable[[], None], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard

    def settle(
        self,
        channel: dict[str, Any],
        changes: ChannelChanges,
        results: list[tuple[dict[str, Any], bool | None, str | None, str | None]],
        tickets: dict[str, str] | None = None,
    ) -> dict[str, int]:
        self.guard()
        return super().settle(channel, changes, results, tickets)
