"""`Shop`: a project with a CSV feed, a file channel and a sync job, run in-process; and its
fixture `shop` (tests/core/conftest.py)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from core import runs as runs_service
from core.config import Settings
from core.connections import create_connection
from core.jobs import create_job
from core.models import Trigger
from core.projects import create_project
from core.store import Store
from core.tenants import create_tenant
from plugins.file import export_path
from tests.conftest import work_in_process
from tests.plugins.fakes import add_connectors
from worker.actors import execute_run


class Shop:
    """A project with a CSV feed, a file channel and a sync job, run in-process."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        feed: Path,
        broker: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        work_in_process(monkeypatch, store, settings, broker)  # runs execute in-process
        self.store, self.settings, self.feed, self.broker = store, settings, feed, broker
        self.tenant, _ = create_tenant(store, "acme", plan="unlimited")
        self.project = create_project(store, self.tenant, {"name": "Shop"})
        self.source = self.connect(
            {"connector": "feed", "role": "source", "settings": {"url": str(feed)}}
        )
        self.file = self.connect({"connector": "file", "role": "channel"})
        self.job = self.add_job({"kind": "sync"})

    def connect(self, data: dict[str, Any]) -> dict[str, Any]:
        return create_connection(self.store, self.project, data)

    def add_job(self, data: dict[str, Any]) -> dict[str, Any]:
        return create_job(self.store, self.tenant, self.project, data)

    def write_feed(self, rows: list[str], header: str = "sku,title,price") -> None:
        self.feed.write_text("\n".join([header, *rows]) + "\n")

    def run(
        self, job: dict[str, Any] | None = None, trigger: Trigger = Trigger.MANUAL
    ) -> dict[str, Any]:
        run = runs_service.claim_run(self.store, job or self.job, trigger)
        assert run is not None
        execute_run.fn(run["_id"])
        return self.store.runs.find_one({"_id": run["_id"]}) or {}

    def stage(self, run: dict[str, Any], name: str) -> dict[str, int]:
        return next(s["counts"] for s in run["stages"] if s["name"] == name)

    def changes(self, channel: dict[str, Any], state: str | None = None) -> dict[str, Any]:
        query: dict[str, Any] = {"connection_id": channel["_id"]}
        if state:
            query["state"] = state
        return {doc["key"]: doc for doc in self.store.changes.find(query)}

    def exported(self) -> list[dict[str, str]]:
        path = export_path(self.settings.data_dir, self.project["_id"], self.file["_id"])
        return list(csv.DictReader(path.open()))


def shop_with_fakes(
    store: Store,
    settings: Settings,
    csv_feed: Path,
    broker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Shop:
    add_connectors(
        monkeypatch,
        {
            "recording": "tests.plugins.fakes:RecordingChannel",
            "deferred": "tests.plugins.fakes:DeferredChannel",
        },
    )
    return Shop(store, settings, csv_feed, broker, monkeypatch)
