"""Each record's state on each channel, as the dashboard colours it.

    in_sync          the channel has what the record looks like now (or rightly lacks it)
    pending_insert   the channel does not have the record yet; a change will create it
    pending_update   the channel has an older version; a change will update it
    pending_delete   the channel has the record but should not (gone, or filtered out)
    not_listed       the channel's rules leave the record out and it never had it

The change's own state (`pending`, `unapproved`, `sending`, `failed`, `stopped`…) is given
next to it as `change_state`: a pending change may be waiting, held or failing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.pipeline.changes import ChangeState, change_id
from core.store import Store

IN_SYNC = "in_sync"
NOT_LISTED = "not_listed"
CHANNEL_STATES = (IN_SYNC, "pending_insert", "pending_update", "pending_delete", NOT_LISTED)


def _state_of(change: dict[str, Any] | None) -> str:
    if change is None:
        return NOT_LISTED
    if change.get("state") == ChangeState.DONE.value or change.get("op") not in (
        "insert",
        "update",
        "delete",
    ):
        listed = change.get("acked_hash") is not None or change.get("hash") is not None
        return IN_SYNC if listed else NOT_LISTED
    return f"pending_{change['op']}"


def channel_states(
    store: Store, channels: list[dict[str, Any]], keys: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """Per key, its state on each of `channels` (in their order): connection_id, name,
    state (one of CHANNEL_STATES) and change_state (None without a change document)."""
    wanted = list(keys)
    ids = [change_id(channel["_id"], key) for channel in channels for key in wanted]
    projection = {"op": 1, "state": 1, "hash": 1, "acked_hash": 1}
    found = {doc["_id"]: doc for doc in store.changes.find({"_id": {"$in": ids}}, projection)}
    states: dict[str, list[dict[str, Any]]] = {}
    for key in wanted:
        row = []
        for channel in channels:
            change = found.get(change_id(channel["_id"], key))
            row.append(
                {
                    "connection_id": channel["_id"],
                    "name": channel.get("name"),
                    "state": _state_of(change),
                    "change_state": change.get("state") if change else None,
                }
            )
        states[key] = row
    return states
