"""The export half of a run: file channels get the whole catalog, API channels their changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.clock import now_ms
from core.errors import ConnectorError
from core.issues import clear_issues, record_issues
from core.pipeline.catalog import ChannelCatalog
from core.pipeline.changes import (
    ChangeState,
    ChannelChanges,
    changes_in_states,
    rules_fingerprint,
)
from core.pipeline.hashing import content_hash
from core.store import Store
from plugins.base import Change, Connector

ACK_BATCH = 1000
BROKEN_SEND_BACKOFF_MS = 15 * 60 * 1000


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
    ) -> None:
        self.store = store
        self.project = project
        self.connector_for = connector_for
        self.key_field = key_field
        self.run_id = run_id
        self.retry_every_failed = retry_every_failed
        #: the record index this run's import committed (key → hash), when it imported
        self.index = index

    def changes_of(self, channel: dict[str, Any]) -> ChannelChanges:
        changes = ChannelChanges(self.store, self.project, channel, self.key_field)
        if changes.needs_recompute():
            changes.recompute()
        return changes

    def export_file(self, channel: dict[str, Any]) -> dict[str, int]:
        """Publish the channel's view of the catalog; then every open change is delivered.
        When nothing changed for it since its last publication (no open change, same settings
        and rules, the file still there), the catalog is not read again."""
        changes = self.changes_of(channel)
        connector = self.connector_for(channel)
        fingerprint = content_hash(
            [channel.get("settings"), rules_fingerprint(self.project, channel)]
        )
        open_states = [ChangeState.PENDING.value, ChangeState.FAILED.value]
        if (
            not changes.has_any(open_states)
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
            self.store, self.project, channel, changes, held_back, index=self.index
        )
        counts = connector.publish(catalog)
        with_issues = {
            d["key"] for d in self.store.issues.find({"connection_id": channel["_id"]}, {"key": 1})
        }
        for state in open_states:  # one state at a time: see `changes_in_states`
            while True:  # acknowledged in batches: a first publication may deliver millions
                batch = list(
                    self.store.changes.find(
                        {"connection_id": channel["_id"], "state": state}
                    ).limit(ACK_BATCH)
                )
                if not batch:
                    break
                acked = changes.acknowledge((d, True, None, None) for d in batch)
                for name, value in acked.items():
                    counts[name] = counts.get(name, 0) + value
                clear_issues(
                    self.store,
                    channel["_id"],
                    (d["key"] for d in batch if d["key"] in with_issues),
                )
        self.store.connections.update_one(
            {"_id": channel["_id"]}, {"$set": {"published_fingerprint": fingerprint}}
        )
        return counts

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
