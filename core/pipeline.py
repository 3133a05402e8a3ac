"""What a run does: import sources into the project database, then export to channels.

The import is read in full before anything is written, so a feed that breaks half-way leaves
the project database exactly as it was. Content hashes decide updates: an unchanged record
costs no write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from core import runs as runs_service
from core.clock import now_ms
from core.config import Settings
from core.connections import CHANNEL_ROLE, project_connections
from core.errors import ConnectorError, RunHeld
from core.models import JobKind
from core.store import Store
from plugins.base import Connector, ConnectorContext, Record
from plugins.registry import get_connector

DELETE_BATCH = 1000
DEFAULT_SHRINK_PCT = 50
PROGRESS_EVERY = 500


def content_hash(data: Record) -> str:
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()[:32]


class RunExecution:
    """Executes one run's stages, recording each stage's timings and counts in the run."""

    def __init__(self, store: Store, settings: Settings, run: dict[str, Any]) -> None:
        self.store = store
        self.settings = settings
        self.run = run
        self.stages: list[dict[str, Any]] = []
        self.project: dict[str, Any] = store.projects.find_one({"_id": run["project_id"]}) or {}

    def execute(self) -> None:
        kind = JobKind(self.run["job_kind"])
        connections = [
            c for c in project_connections(self.store, self.run["project_id"]) if not c["paused"]
        ]
        if kind in (JobKind.SYNC, JobKind.FETCH):
            self._stage("import", lambda: self._import(connections))
        if kind in (JobKind.SYNC, JobKind.SEND):
            for channel in (c for c in connections if c["role"] == CHANNEL_ROLE):
                self._stage(f"export:{channel['name']}", partial(self._export, channel))
        if kind == JobKind.TASK:
            raise ConnectorError("connector tasks are not available yet in this version")

    def _stage(self, name: str, work: Callable[[], dict[str, int]]) -> None:
        stage: dict[str, Any] = {
            "name": name,
            "started_at": now_ms(),
            "finished_at": None,
            "counts": {},
        }
        self.stages.append(stage)
        runs_service.save_stages(self.store, self.run["_id"], self.stages)
        try:
            stage["counts"] = work()
        finally:
            stage["finished_at"] = now_ms()
            runs_service.save_stages(self.store, self.run["_id"], self.stages)

    def _connector(self, connection: dict[str, Any]) -> Connector:
        cls = get_connector(connection["connector"])
        context = ConnectorContext(
            project_id=self.run["project_id"],
            connection_id=connection["_id"],
            data_dir=self.settings.data_dir,
            http_timeout_s=self.settings.http_timeout_s,
            export_token=connection.get("export_token"),
            progress=self._progress,
        )
        return cls(connection["settings"], context)

    def _progress(self, done: int, total: int | None) -> None:
        runs_service.save_progress(
            self.store,
            self.run["_id"],
            {
                "stage": self.stages[-1]["name"] if self.stages else None,
                "done": done,
                "total": total,
            },
        )

    def _import(self, connections: list[dict[str, Any]]) -> dict[str, int]:
        sources = [c for c in connections if c["role"] == "source"]
        if not sources:
            raise ConnectorError("the project has no source connection to import from")
        source = self._connector(sources[0])
        pid = self.run["project_id"]
        known = {
            doc["key"]: doc["hash"]
            for doc in self.store.records.find({"project_id": pid}, {"key": 1, "hash": 1})
        }
        seen: set[str] = set()
        changed: list[dict[str, Any]] = []
        counts = {"read": 0, "inserted": 0, "updated": 0, "unchanged": 0, "deleted": 0}
        now = now_ms()
        for number, data in enumerate(source.read(), start=1):
            key = str(data[source.key_field])
            if key in seen:
                raise ConnectorError(f"duplicate key {key!r} at item {number} of the feed")
            seen.add(key)
            counts["read"] = number
            digest = content_hash(data)
            previous = known.get(key)
            if previous != digest:
                counts["inserted" if previous is None else "updated"] += 1
                doc = {
                    "_id": f"{pid}:{key}",
                    "project_id": pid,
                    "key": key,
                    "data": data,
                    "hash": digest,
                    "source_id": sources[0]["_id"],
                    "updated_at": now,
                }
                changed.append(doc)
            else:
                counts["unchanged"] += 1
            if number % PROGRESS_EVERY == 0:
                self._progress(number, None)
        gone = [f"{pid}:{key}" for key in known.keys() - seen]
        counts["deleted"] = len(gone)
        self._check_shrink(len(known), counts["read"], len(gone))
        # Written only once the whole feed has been read: a feed that breaks half-way
        # leaves the database as it was.
        for doc in changed:
            self.store.records.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        for start in range(0, len(gone), DELETE_BATCH):
            self.store.records.delete_many({"_id": {"$in": gone[start : start + DELETE_BATCH]}})
        self._progress(counts["read"], counts["read"])
        return counts

    def _check_shrink(self, before: int, read: int, deleting: int) -> None:
        """Hold the run, changing nothing, when the feed is empty or lost too many records:
        that is far more often a broken feed than a merchant emptying a catalog."""
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

    def _export(self, channel: dict[str, Any]) -> dict[str, int]:
        connector = self._connector(channel)
        return connector.write(self._records())

    def _records(self) -> Iterator[Record]:
        cursor = self.store.records.find({"project_id": self.run["project_id"]}, {"data": 1})
        for doc in cursor.sort("_id", 1):
            yield doc["data"]
