"""Expiry of changes stuck in `sending`: a platform that never answers a ticket.

A channel with deferred results leaves its changes `sending` until its results task reports
them. When no result comes (the platform lost the ticket, the results task keeps failing),
the change would wait for ever. After the expiry it fails like any other failure, with the
error code `no_result`: it is retried after the usual backoff, and the same failure
`max_identical_failures` times in a row stops it and marks its issue as needing a person —
the same rules `ChannelChanges.acknowledge` applies to a failure the channel reports.

Each change is moved with a compare-and-set on its state and `sent_at`, so a result that
arrives meanwhile wins.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from core.issues import record_issues
from core.pipeline.changes import DEFAULT_MAX_IDENTICAL_FAILURES, ChangeState, retry_delay_ms
from core.store import Store

NO_RESULT = "no_result"


def no_result_message(expiry_ms: int) -> str:
    return (
        f"no result from the channel within {_duration(expiry_ms)} of sending; "
        "the change is sent again after its backoff"
    )


def _duration(ms: int) -> str:
    seconds = ms // 1000
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def expire_sending_changes(store: Store, expiry_ms: int, *, now: int, limit: int = 1000) -> int:
    """Fail up to `limit` changes that have been `sending` for longer than `expiry_ms`;
    returns how many were failed (or stopped)."""
    stuck = list(
        store.changes.find(
            {"state": ChangeState.SENDING.value, "sent_at": {"$lt": now - expiry_ms}}
        ).limit(limit)
    )
    per_channel: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in stuck:
        per_channel[doc["connection_id"]].append(doc)
    error = {"code": NO_RESULT, "message": no_result_message(expiry_ms)}
    expired = 0
    for connection_id, docs in per_channel.items():
        channel = store.connections.find_one({"_id": connection_id}) or {}
        limit_same = int(channel.get("max_identical_failures") or DEFAULT_MAX_IDENTICAL_FAILURES)
        failed: list[str] = []
        stopped: set[str] = set()
        for doc in docs:
            same = doc.get("last_error") == error
            identical = doc.get("identical_failures", 0) + 1 if same else 1
            attempts = doc.get("attempts", 0) + 1
            stop = identical >= limit_same
            moved = store.changes.update_one(
                {"_id": doc["_id"], "state": ChangeState.SENDING.value, "sent_at": doc["sent_at"]},
                {
                    "$set": {
                        "state": (ChangeState.STOPPED if stop else ChangeState.FAILED).value,
                        "ticket": None,
                        "attempts": attempts,
                        "identical_failures": identical,
                        "next_attempt_at": None if stop else now + retry_delay_ms(attempts),
                        "last_error": error,
                        "updated_at": now,
                    }
                },
            )
            if moved.modified_count != 1:
                continue
            expired += 1
            failed.append(doc["key"])
            if stop:
                stopped.add(doc["key"])
        project_id = str(channel.get("project_id") or docs[0].get("project_id"))
        record_issues(
            store,
            project_id,
            connection_id,
            ((key, NO_RESULT, error["message"]) for key in failed),
            needs_person=stopped,
        )
    return expired
