"""MongoDB access: one `Store` per process, created after the process has forked.

Only pymongo features that real MongoDB, nx-27017 and mongomock share are used: documents are
addressed by natural `_id`s, arrays are written whole (never `$push`ed), and datetimes are UTC.
"""

from __future__ import annotations

from typing import Any

import pymongo
from pymongo.collection import Collection
from pymongo.database import Database

COLLECTIONS = (
    "tenants",
    "api_keys",
    "projects",
    "connections",
    "jobs",
    "runs",
    "records",
    "record_index",
    "changes",
    "issues",
    "task_state",
    "events",
    "documents",
)

INDEXES: dict[str, list[list[tuple[str, int]]]] = {
    "projects": [[("tenant_id", 1)]],
    "connections": [[("project_id", 1)]],
    "jobs": [[("project_id", 1)], [("next_fire_at", 1)], [("cleanup_next_at", 1)]],
    "runs": [[("project_id", 1), ("queued_at", -1)], [("state", 1), ("queued_at", 1)]],
    "records": [[("project_id", 1)]],
    "record_index": [[("project_id", 1)]],
    "changes": [
        [("connection_id", 1), ("state", 1)],
        [("project_id", 1)],
        [("state", 1), ("next_attempt_at", 1)],
    ],
    # run_id: retention keeps the runs open issues point to (core/retention.py)
    "issues": [[("project_id", 1)], [("run_id", 1)]],
    "task_state": [[("connection_id", 1)]],
    "documents": [
        [("project_id", 1), ("kind", 1), ("created_at", 1)],
        # GET /orders pages newest first: without it every page sorts all the project's orders
        [("project_id", 1), ("kind", 1), ("ordered_at", -1)],
    ],
    "events": [[("project_id", 1), ("received_at", -1)]],
}


class Store:
    """The collections of one syncfarm database."""

    def __init__(self, db: Database[Any]) -> None:
        self.db = db
        self.tenants: Collection[Any] = db["tenants"]
        self.api_keys: Collection[Any] = db["api_keys"]
        self.projects: Collection[Any] = db["projects"]
        self.connections: Collection[Any] = db["connections"]
        self.jobs: Collection[Any] = db["jobs"]
        self.runs: Collection[Any] = db["runs"]
        self.records: Collection[Any] = db["records"]
        self.record_index: Collection[Any] = db["record_index"]
        self.changes: Collection[Any] = db["changes"]
        self.issues: Collection[Any] = db["issues"]
        self.task_state: Collection[Any] = db["task_state"]
        self.documents: Collection[Any] = db["documents"]
        self.events: Collection[Any] = db["events"]

    @classmethod
    def connect(cls, url: str, db_name: str, *, timeout_ms: int = 5000) -> Store:
        client: pymongo.MongoClient[Any] = pymongo.MongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=timeout_ms, connect=False
        )
        return cls(client[db_name])

    def ensure_indexes(self) -> None:
        for name, indexes in INDEXES.items():
            for keys in indexes:
                self.db[name].create_index(keys)
