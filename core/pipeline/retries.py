"""Retrying failed changes: which channels have retries due (for the ticker), and sending
stopped or failed changes again (for operators)."""

from __future__ import annotations

from typing import Any

from core.clock import now_ms
from core.pipeline.changes import ChangeState, change_id
from core.store import Store


def reset_changes(store: Store, channel: dict[str, Any], keys: list[str] | None) -> int:
    """Make stopped (and failed) changes pending again, with a fresh count of attempts."""
    selector: dict[str, Any] = {
        "connection_id": channel["_id"],
        "state": {"$in": [ChangeState.STOPPED.value, ChangeState.FAILED.value]},
    }
    if keys is not None:
        selector["_id"] = {"$in": [change_id(channel["_id"], key) for key in keys]}
    fresh = {
        "state": ChangeState.PENDING.value,
        "attempts": 0,
        "identical_failures": 0,
        "next_attempt_at": None,
        "updated_at": now_ms(),
    }
    done = store.changes.update_many(selector, {"$set": fresh})
    issue_ids = [f"{channel['_id']}:{key}" for key in keys] if keys is not None else None
    issue_selector: dict[str, Any] = {"connection_id": channel["_id"]}
    if issue_ids is not None:
        issue_selector["_id"] = {"$in": issue_ids}
    store.issues.update_many(issue_selector, {"$set": {"needs_person": False}})
    return int(done.modified_count)


def channels_with_due_retries(store: Store, now: int) -> set[tuple[str, str]]:
    """(project, channel) pairs that have failed changes whose backoff has passed."""
    due = store.changes.find(
        {"state": ChangeState.FAILED.value, "next_attempt_at": {"$lte": now}},
        {"project_id": 1, "connection_id": 1},
    )
    return {(doc["project_id"], doc["connection_id"]) for doc in due}
