"""Connector tasks and their small persistent state."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, MutableMapping
from typing import Any

from core.store import Store
from core.versions import versioned


class TaskState(MutableMapping[str, Any]):
    """A connection's key/value state kept between runs, one document per key (keys may be
    any string, such as URLs)."""

    def __init__(self, store: Store, connection_id: str) -> None:
        self.store = store
        self.connection_id = connection_id

    def _id(self, key: str) -> str:
        return f"{self.connection_id}:{hashlib.sha1(key.encode()).hexdigest()}"

    def __getitem__(self, key: str) -> Any:
        doc = self.store.task_state.find_one({"_id": self._id(key)})
        if doc is None:
            raise KeyError(key)
        return doc["value"]

    def __setitem__(self, key: str, value: Any) -> None:
        self.store.task_state.replace_one(
            {"_id": self._id(key)},
            {
                "connection_id": self.connection_id,
                "key": key,
                "value": value,
                **versioned("task_state"),
            },
            upsert=True,
        )

    def __delitem__(self, key: str) -> None:
        if self.store.task_state.delete_one({"_id": self._id(key)}).deleted_count == 0:
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        for doc in self.store.task_state.find({"connection_id": self.connection_id}, {"key": 1}):
            yield doc["key"]

    def __len__(self) -> int:
        return self.store.task_state.count_documents({"connection_id": self.connection_id})
