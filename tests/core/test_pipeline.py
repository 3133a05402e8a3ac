from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from core import runs as runs_service
from core.config import Settings
from core.connections import create_connection
from core.jobs import create_job
from core.models import RunState, Trigger
from core.pipeline import RunExecution
from core.projects import create_project
from core.store import Store
from core.tenants import create_tenant
from plugins.file import export_path
from worker.actors import execute_run


@pytest.fixture
def shop(store: Store, csv_feed: Path) -> dict[str, Any]:
    tenant, _ = create_tenant(store, "acme")
    project = create_project(store, tenant, {"name": "Shop"})
    source = create_connection(
        store, project, {"connector": "feed", "role": "source", "settings": {"url": str(csv_feed)}}
    )
    channel = create_connection(store, project, {"connector": "file", "role": "channel"})
    job = create_job(store, tenant, project, {"kind": "sync"})
    return {"project": project, "source": source, "channel": channel, "job": job}


def _run(store: Store, settings: Settings, job: dict[str, Any]) -> dict[str, Any]:
    run = runs_service.claim_run(store, job, Trigger.MANUAL)
    assert run is not None
    started = runs_service.start_run(store, run["_id"])
    assert started is not None
    RunExecution(store, settings, started).execute()
    runs_service.finish_run(store, run["_id"], RunState.SUCCEEDED)
    return store.runs.find_one({"_id": run["_id"]}) or {}


def test_a_sync_run_imports_the_feed_and_exports_the_file(
    store: Store, settings: Settings, shop: dict[str, Any]
) -> None:
    run = _run(store, settings, shop["job"])
    assert [s["name"] for s in run["stages"]] == ["import", "export:file"]
    assert run["stages"][0]["counts"]["inserted"] == 2
    assert all(s["started_at"] <= s["finished_at"] for s in run["stages"])
    assert [t["state"] for t in run["transitions"]] == ["queued", "running", "succeeded"]
    records = {r["key"]: r for r in store.records.find({})}
    assert set(records) == {"A-1", "A-2"} and len(records["A-1"]["hash"]) == 32
    path = export_path(settings.data_dir, shop["project"]["_id"], shop["channel"]["_id"])
    rows = list(csv.DictReader(path.open()))
    assert rows == [
        {"sku": "A-1", "title": "Red shirt", "price": "19.90"},
        {"sku": "A-2", "title": "Blue shirt", "price": "21.50"},
    ]


def test_unchanged_records_are_not_rewritten_and_changes_are_counted(
    store: Store, settings: Settings, shop: dict[str, Any], csv_feed: Path
) -> None:
    _run(store, settings, shop["job"])
    before = {r["key"]: r["updated_at"] for r in store.records.find({})}
    csv_feed.write_text("sku,title,price\nA-1,Red shirt,19.90\nA-3,Green shirt,9.99\n")
    run = _run(store, settings, shop["job"])
    counts = run["stages"][0]["counts"]
    assert counts == {"read": 2, "inserted": 1, "updated": 0, "unchanged": 1, "deleted": 1}
    after = {r["key"]: r["updated_at"] for r in store.records.find({})}
    assert after["A-1"] == before["A-1"]
    assert set(after) == {"A-1", "A-3"}


def test_a_broken_feed_fails_the_run_and_leaves_the_database_as_it_was(
    store: Store, settings: Settings, shop: dict[str, Any], csv_feed: Path, monkeypatch: Any
) -> None:
    _run(store, settings, shop["job"])
    before = list(store.records.find({}))
    csv_feed.write_text("sku,title,price\nA-1,Changed,1\nA-1,Twice,2\n")
    monkeypatch.setattr("worker.runtime.store", lambda: store)
    monkeypatch.setattr("worker.runtime.settings", lambda: settings)
    run = runs_service.claim_run(store, shop["job"], Trigger.MANUAL)
    assert run is not None
    execute_run.fn(run["_id"])
    failed = store.runs.find_one({"_id": run["_id"]}) or {}
    assert failed["state"] == RunState.FAILED
    assert "duplicate key 'A-1' at item 2" in failed["error"]["message"]
    assert list(store.records.find({})) == before
    job = store.jobs.find_one({"_id": shop["job"]["_id"]}) or {}
    assert job["pending_run_id"] is None and job["running_run_id"] is None


def _execute(store: Store, settings: Settings, job: dict[str, Any], monkeypatch: Any) -> Any:
    monkeypatch.setattr("worker.runtime.store", lambda: store)
    monkeypatch.setattr("worker.runtime.settings", lambda: settings)
    run = runs_service.claim_run(store, job, Trigger.MANUAL)
    assert run is not None
    execute_run.fn(run["_id"])
    return store.runs.find_one({"_id": run["_id"]}) or {}


def test_an_empty_feed_holds_the_run_and_deletes_nothing(
    store: Store, settings: Settings, shop: dict[str, Any], csv_feed: Path, monkeypatch: Any
) -> None:
    _run(store, settings, shop["job"])
    path = export_path(settings.data_dir, shop["project"]["_id"], shop["channel"]["_id"])
    exported = path.read_text()
    csv_feed.write_text("sku,title,price\n")
    held = _execute(store, settings, shop["job"], monkeypatch)
    assert held["state"] == RunState.HELD
    assert "the feed is empty but the project has 2 records" in held["error"]["message"]
    assert store.records.count_documents({}) == 2
    assert path.read_text() == exported


def test_a_feed_that_shrinks_past_the_threshold_holds_the_run(
    store: Store, settings: Settings, shop: dict[str, Any], csv_feed: Path, monkeypatch: Any
) -> None:
    csv_feed.write_text("sku\n" + "".join(f"K{n}\n" for n in range(10)))
    _run(store, settings, shop["job"])
    csv_feed.write_text("sku\nK0\nK1\nK2\nK3\n")
    held = _execute(store, settings, shop["job"], monkeypatch)
    assert held["state"] == RunState.HELD
    assert "would delete 6 of 10 records (60 %)" in held["error"]["message"]
    assert store.records.count_documents({}) == 10


def test_a_run_stopped_by_the_time_limit_ends_failed_and_frees_its_job(
    store: Store, settings: Settings, shop: dict[str, Any], monkeypatch: Any
) -> None:
    from dramatiq.middleware import TimeLimitExceeded

    def too_slow(self: Any) -> None:
        raise TimeLimitExceeded()

    monkeypatch.setattr("core.pipeline.RunExecution.execute", too_slow)
    failed = _execute(store, settings, shop["job"], monkeypatch)
    assert failed["state"] == RunState.FAILED
    assert "time limit" in failed["error"]["message"]
    job = store.jobs.find_one({"_id": shop["job"]["_id"]}) or {}
    assert job["running_run_id"] is None
