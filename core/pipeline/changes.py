"""Change documents: what each channel still has to receive, per record.

A channel sees a record through the project's rules, then its own rules, without its read-only
fields; the hash of that view, compared with the hash the channel last acknowledged, decides
the change: `insert`, `update` or `delete` (sent as a delist unless the channel opts into real
deletes). Only records that changed in a run are looked at, so a steady-state run costs work in
proportion to what changed; a full recompute happens after "reset clocks", a change of rules,
or an interrupted commit.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Container, Iterable, Iterator
from enum import StrEnum
from typing import Any

from pymongo import ReplaceOne

from core.clock import now_ms
from core.pipeline.channel_view import channel_rules, rules_fingerprint
from core.pipeline.hashing import content_hash
from core.store import Store
from core.versions import versioned

BATCH = 1000


class ChangeState(StrEnum):
    PENDING = "pending"
    UNAPPROVED = "unapproved"  # a new record waiting for a person (channel without auto-absorb)
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"  # retried on its own after a backoff (`next_attempt_at`)
    STOPPED = "stopped"  # failed the same way too often: a person must act, then reset it


#: on a channel: the run whose changes to it are deferred until it has published (`defer`)
UNSETTLED = "unsettled_run_id"
OPEN_STATES = (ChangeState.PENDING, ChangeState.UNAPPROVED, ChangeState.FAILED)
DEFAULT_MAX_IDENTICAL_FAILURES = 5
RETRY_BASE_S = 60
RETRY_CAP_S = 6 * 3600


def retry_delay_ms(attempts: int) -> int:
    """Exponential backoff with ±20 % jitter: 1, 2, 4 … minutes, at most 6 hours."""
    delay_s = min(RETRY_CAP_S, RETRY_BASE_S * 2 ** max(0, attempts - 1))
    return int(delay_s * random.uniform(0.8, 1.2) * 1000)


def change_id(connection_id: str, key: str) -> str:
    return f"{connection_id}:{key}"


class ChannelChanges:
    """Computes and stores one channel's change documents."""

    def __init__(
        self, store: Store, project: dict[str, Any], channel: dict[str, Any], key_field: str = "sku"
    ) -> None:
        self.store = store
        self.project = project
        self.channel = channel
        self.rules = channel_rules(project, channel, key_field)
        self.read_only = set(channel.get("read_only_fields") or [])
        #: keys whose change `acknowledge` stopped (the same failure too often)
        self.stopped_keys: set[str] = set()
        #: keys whose change `update(..., delivered=True)` wrote as done
        self.delivered_keys: list[str] = []

    def view(self, data: dict[str, Any] | None) -> dict[str, Any] | None:
        """The record as this channel gets it; None when its rules filter it out."""
        return None if data is None else self.rules.apply(data)

    def _view_hash(self, view: dict[str, Any] | None) -> str | None:
        if view is None:
            return None
        return content_hash({k: v for k, v in view.items() if k not in self.read_only})

    def update(
        self,
        items: Iterable[tuple[str, dict[str, Any] | None]],
        *,
        delivered: bool = False,
        guard: Callable[[], None] | None = None,
        read: dict[str, dict[str, Any] | None] | None = None,
    ) -> dict[str, int]:
        """Bring the change documents of these records (key, data or None when gone) up to date;
        returns counts of the changes by kind. `delivered`: the channel already has these
        records (a file channel that just published them), so each change is written once,
        as done with its hash acknowledged, instead of pending and then acknowledged; the
        delivered keys are in `delivered_keys`. `guard` is called before each batch's write.
        `read`: change documents already read (`read_changes`), by key, None for a key that
        has none; keys it does not hold are read here."""
        counts = {"insert": 0, "update": 0, "delete": 0, "unchanged": 0}
        batch: list[tuple[str, dict[str, Any] | None]] = []
        for item in items:
            batch.append(item)
            if len(batch) >= BATCH:
                self._update_batch(batch, counts, delivered, guard, read)
                batch = []
        self._update_batch(batch, counts, delivered, guard, read)
        return counts

    def read_changes(self, keys: list[str]) -> dict[str, dict[str, Any] | None]:
        """The change documents of these keys (None for a key without one), a batch at a
        time, for `update` to use instead of reading them itself."""
        found: dict[str, dict[str, Any] | None] = dict.fromkeys(keys)
        cid = self.channel["_id"]
        for start in range(0, len(keys), BATCH):
            ids = [change_id(cid, key) for key in keys[start : start + BATCH]]
            found.update(
                (doc["key"], doc) for doc in self.store.changes.find({"_id": {"$in": ids}})
            )
        return found

    def _update_batch(
        self,
        batch: list[tuple[str, dict[str, Any] | None]],
        counts: dict[str, int],
        delivered: bool = False,
        guard: Callable[[], None] | None = None,
        read: dict[str, dict[str, Any] | None] | None = None,
    ) -> None:
        if not batch:
            return
        keys = [key for key, _ in batch]
        if read is None or not all(key in read for key in keys):
            read = self.read_changes(keys)
        existing = {key: doc for key in keys if (doc := read[key]) is not None}
        writes: list[Any] = []
        now = now_ms()
        for key, data in batch:
            doc = existing.get(key)
            target = self._view_hash(self.view(data))
            acked = doc.get("acked_hash") if doc else None
            if target == acked:
                counts["unchanged"] += 1
                if doc and doc["state"] != ChangeState.DONE:
                    writes.append(self._doc(doc, key, "none", target, ChangeState.DONE, now))
                continue
            if target is None:
                op = "delete"
            elif acked is None:
                op = "insert"
            else:
                op = "update"
            counts[op] += 1
            if delivered:
                self.delivered_keys.append(key)
                writes.append(self._doc(doc, key, op, target, ChangeState.DONE, now, acked=True))
                continue
            if doc and doc["state"] != ChangeState.DONE and doc.get("hash") == target:
                continue  # already pending as it should be
            state = ChangeState.PENDING
            if op == "insert" and not self.channel.get("auto_absorb", True):
                approved = doc is not None and doc.get("approved")
                state = ChangeState.PENDING if approved else ChangeState.UNAPPROVED
            writes.append(self._doc(doc, key, op, target, state, now))
        if writes:
            if guard is not None:
                guard()
            self.store.changes.bulk_write(writes, ordered=False)

    def _doc(
        self,
        doc: dict[str, Any] | None,
        key: str,
        op: str,
        target: str | None,
        state: ChangeState,
        now: int,
        *,
        acked: bool = False,
    ) -> ReplaceOne[Any]:
        """The change document of `key`; `acked`: delivered, `target` is its acknowledged hash."""
        cid = self.channel["_id"]
        fresh = {
            "_id": change_id(cid, key),
            "project_id": self.project["_id"],
            "connection_id": cid,
            "key": key,
            "op": op,
            "state": state.value,
            "hash": target,
            "acked_hash": target if acked else doc.get("acked_hash") if doc else None,
            "approved": bool(doc.get("approved")) if doc else False,
            "attempts": 0,
            "identical_failures": 0,
            "next_attempt_at": None,
            "last_error": None,
            "updated_at": now,
            **versioned("changes"),
        }
        return ReplaceOne({"_id": fresh["_id"]}, fresh, upsert=True)

    def recompute(
        self,
        *,
        delivered: bool = False,
        guard: Callable[[], None] | None = None,
        keys: Container[str] | None = None,
    ) -> dict[str, int]:
        """Recompute every record's change (after reset clocks, new rules or a crash);
        `delivered` and `guard` as for `update`. `keys`: every record's key, when known (the
        index a commit just wrote), so that a large catalog's keys are not collected again."""
        pid = self.project["_id"]
        present: set[str] = set()

        def current() -> Iterator[tuple[str, dict[str, Any] | None]]:
            for doc in self.store.records.find({"project_id": pid}, {"key": 1, "data": 1}):
                if keys is None:
                    present.add(doc["key"])
                yield doc["key"], doc["data"]

        counts = self.update(current(), delivered=delivered, guard=guard)
        gone = (
            (doc["key"], None)
            for doc in self.store.changes.find({"connection_id": self.channel["_id"]}, {"key": 1})
            if doc["key"] not in (present if keys is None else keys)
        )
        for name, value in self.update(list(gone), delivered=delivered, guard=guard).items():
            counts[name] += value
        fields: dict[str, Any] = {
            "rules_fingerprint": rules_fingerprint(self.project, self.channel),
        }
        noted = self.channel.get(UNSETTLED)
        if noted:
            # a file channel may have published what its changes do not say: publish again
            fields["published_fingerprint"] = None
        self.store.connections.update_one({"_id": self.channel["_id"]}, {"$set": fields})
        if noted:
            self.settled(noted)  # only that run's note: a later run's stays
        self.channel.update(fields, **{UNSETTLED: None})
        return counts

    def needs_recompute(self) -> bool:
        """After new rules, or when a run that deferred this channel's changes (`defer`)
        ended before writing them."""
        return bool(self.channel.get(UNSETTLED)) or self.channel.get(
            "rules_fingerprint"
        ) != rules_fingerprint(self.project, self.channel)

    def can_defer(self) -> bool:
        """Whether this run's changes may be written only once the channel has published them:
        not while records wait for approval (a publication leaves those out)."""
        return bool(self.channel.get("auto_absorb", True)) and not self.has_any(
            [ChangeState.UNAPPROVED]
        )

    def defer(self, run_id: str) -> None:
        """Note on the channel that `run_id` committed records whose changes it writes only
        after publishing them (`update(..., delivered=True)`). Until `settled`, a later run
        recomputes every change of the channel, so a crash in between loses no update."""
        self.store.connections.update_one(
            {"_id": self.channel["_id"]}, {"$set": {UNSETTLED: run_id}}
        )

    def settled(self, run_id: str, extra: dict[str, Any] | None = None) -> None:
        """The changes `run_id` deferred are written (`extra`: more fields to set in the same
        write). Only while the note is still `run_id`'s: a later run may have noted its own
        deferred changes meanwhile, and its note must survive until they are written."""
        self.store.connections.update_one(
            {"_id": self.channel["_id"], UNSETTLED: run_id},
            {"$set": {UNSETTLED: None, **(extra or {})}},
        )

    def open_changes(
        self, states: Iterable[str] = (ChangeState.PENDING,)
    ) -> Iterator[dict[str, Any]]:
        """This channel's changes in `states`, in key order."""
        yield from changes_in_states(self.store, self.channel["_id"], states)

    def has_any(self, states: Iterable[str]) -> bool:
        """Whether this channel has a change in one of `states`."""
        return any(
            self.store.changes.find_one(
                {"connection_id": self.channel["_id"], "state": state}, {"_id": 1}
            )
            for state in dict.fromkeys(states)
        )

    def due_changes(self, now: int, *, every_failed: bool = False) -> Iterator[dict[str, Any]]:
        """What a send should deliver now: pending changes, and failed ones whose backoff
        has passed (or every failed one, for a clean-up run)."""
        for doc in self.open_changes([ChangeState.PENDING, ChangeState.FAILED]):
            due = every_failed or (doc.get("next_attempt_at") or 0) <= now
            if doc["state"] == ChangeState.PENDING or due:
                yield doc

    def submissions(self) -> dict[str, list[str]]:
        """Ticket → keys of this channel's changes the platform is still processing."""
        found: dict[str, list[str]] = {}
        for doc in self.open_changes([ChangeState.SENDING]):
            found.setdefault(doc.get("ticket") or "", []).append(doc["key"])
        return found

    def sending(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The change documents of these keys that are still `sending`."""
        ids = [change_id(self.channel["_id"], key) for key in keys]
        return {
            doc["key"]: doc
            for doc in self.store.changes.find({"_id": {"$in": ids}})
            if doc["state"] == ChangeState.SENDING
        }

    def acknowledge(
        self,
        results: Iterable[tuple[dict[str, Any], bool | None, str | None, str | None]],
        tickets: dict[str, str] | None = None,
    ) -> dict[str, int]:
        """Record what the channel said: (change doc, ok, code, message) each. A failure is
        retried after a backoff; the same failure `max_identical_failures` times in a row
        (a connection setting, default 5) stops the change until a person resets it."""
        counts = {"acknowledged": 0, "failed": 0, "stopped": 0, "submitted": 0}
        tickets = tickets or {}
        limit = int(self.channel.get("max_identical_failures") or DEFAULT_MAX_IDENTICAL_FAILURES)
        writes: list[Any] = []
        now = now_ms()
        for doc, ok, code, message in results:
            if ok is None:
                counts["submitted"] += 1
                updated = {
                    **doc,
                    "state": ChangeState.SENDING.value,
                    "ticket": tickets.get(doc["key"]),
                    "sent_at": now,
                    "updated_at": now,
                }
            elif ok:
                counts["acknowledged"] += 1
                updated = {
                    **doc,
                    "state": ChangeState.DONE.value,
                    "acked_hash": doc["hash"],
                    "ticket": None,
                    "attempts": 0,
                    "identical_failures": 0,
                    "next_attempt_at": None,
                    "last_error": None,
                    "updated_at": now,
                }
            else:
                error = {"code": code, "message": message}
                same = doc.get("last_error") == error
                identical = doc.get("identical_failures", 0) + 1 if same else 1
                attempts = doc.get("attempts", 0) + 1
                stopped = identical >= limit
                counts["stopped" if stopped else "failed"] += 1
                if stopped:
                    self.stopped_keys.add(doc["key"])
                updated = {
                    **doc,
                    "state": (ChangeState.STOPPED if stopped else ChangeState.FAILED).value,
                    "attempts": attempts,
                    "identical_failures": identical,
                    "next_attempt_at": None if stopped else now + retry_delay_ms(attempts),
                    "last_error": error,
                    "updated_at": now,
                }
            # only over the document as it was read: a change the ticker expired, or one
            # sent again since, is not overwritten by a late answer about an earlier send
            read_as = {"_id": doc["_id"]}
            if "updated_at" in doc:
                read_as["updated_at"] = doc["updated_at"]
            writes.append(ReplaceOne(read_as, updated))
            if len(writes) >= BATCH:
                self.store.changes.bulk_write(writes, ordered=False)
                writes = []
        if writes:
            self.store.changes.bulk_write(writes, ordered=False)
        return counts


def changes_in_states(
    store: Store,
    connection_id: str,
    states: Iterable[str],
    projection: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """A channel's changes in `states`, in `_id` (so key) order: one query per state, merged.
    An equality on `state` is answered from the (connection_id, state) index; nx-27017 answers
    `state: {$in: [...]}` by scanning every change of the project, which costs a steady-state
    run far more than the few changes it finds."""
    cursors = [
        store.changes.find({"connection_id": connection_id, "state": state}, projection).sort(
            "_id", 1
        )
        for state in dict.fromkeys(str(s) for s in states)
    ]
    if len(cursors) == 1:
        yield from cursors[0]
        return
    yield from heapq.merge(*cursors, key=lambda doc: str(doc["_id"]))
