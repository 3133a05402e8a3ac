"""Schema versions and the data-integrity job: documents written by an older syncfarm (no
`schema_version`) are upgraded and reported, a second pass changes nothing, and every way
syncfarm writes a document stamps the current version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from core.documents import ProjectDocuments
from core.events import receive_event, signature
from core.maintenance import BATCH, run_integrity
from core.pipeline.tasks import TaskState
from core.store import COLLECTIONS, Store
from core.versions import CURRENT, FIELD
from tests.conftest import InlineWorker
from tests.plugins.fakes import RecordingChannel, add_connectors


def seed_old_documents(store: Store) -> None:
    """Documents as a syncfarm from before schema versions wrote them."""
    store.projects.insert_one(
        {
            "_id": "prj_old",
            "tenant_id": "ten_old",
            "name": "Old",
            "timezone": "UTC",
            "schedule": {"mode": "manual"},
            "created_at": 0,
        }
    )
    store.connections.insert_many(
        [
            {
                "_id": "con_shop",
                "project_id": "prj_old",
                "tenant_id": "ten_old",
                "name": "Shop",
                "connector": "shop",
                "role": "channel",
                "settings": {},
                "created_at": 0,
            },
            {
                "_id": "con_feed",
                "project_id": "prj_old",
                "tenant_id": "ten_old",
                "name": "Feed",
                "connector": "feed",
                "role": "source",
                "settings": {},
                "created_at": 0,
                "auto_absorb": False,
                "schema_version": 0,
            },
        ]
    )
    store.documents.insert_one(
        {
            "_id": "prj_old:orders:7",
            "project_id": "prj_old",
            "kind": "orders",
            "key": "7",
            "data": {"id": 7, "date_created_gmt": "2024-02-29T12:00:00"},
            "hash": "h",
            "marks": {},
            "created_at": 1_800_000_000_000,
        }
    )
    store.records.insert_one(
        {
            "_id": "prj_old:A",
            "project_id": "prj_old",
            "key": "A",
            "data": {"sku": "A"},
            "hash": "0" * 16,
        }
    )
    store.tenants.insert_one({"_id": "ten_old", "name": "Old", "plan": "standard"})


def test_documents_without_a_version_are_upgraded_and_reported(store: Store) -> None:
    seed_old_documents(store)

    report = run_integrity(store)

    counts = report.counts()
    assert counts["upgraded"] == 6
    assert counts["connections.upgraded"] == 2
    assert counts["connections.v0->v1 stamp, fill defaults"] == 2
    assert counts["documents.v0->v1 stamp, fill ordered_at and connection_id"] == 1
    assert counts["records.v0->v1 stamp"] == 1
    shop = store.connections.find_one({"_id": "con_shop"})
    assert shop[FIELD] == CURRENT["connections"]
    assert shop["auto_absorb"] is True and shop["defaults"] == {} and shop["rules"] == []
    feed = store.connections.find_one({"_id": "con_feed"})
    assert feed["auto_absorb"] is False, "a stored value is never replaced by a default"
    project = store.projects.find_one({"_id": "prj_old"})
    assert project["low_stock_threshold"] == 5 and project["paused"] is False
    order = store.documents.find_one({"_id": "prj_old:orders:7"})
    assert order["ordered_at"] == 1_709_208_000_000  # 2024-02-29T12:00:00Z
    assert order["connection_id"] == "con_shop"  # the project's one order source
    for name in COLLECTIONS:
        for doc in store.db[name].find():
            assert doc[FIELD] == CURRENT[name], (name, doc["_id"])


def test_a_second_pass_changes_nothing(store: Store) -> None:
    seed_old_documents(store)
    run_integrity(store)
    before = {name: list(store.db[name].find()) for name in COLLECTIONS}

    again = run_integrity(store)

    assert again.upgraded == 0 and again.collections == {}
    assert {name: list(store.db[name].find()) for name in COLLECTIONS} == before


def test_a_dry_run_reports_without_writing(store: Store) -> None:
    seed_old_documents(store)
    report = run_integrity(store, dry_run=True)
    assert report.upgraded == 6
    assert store.records.find_one({"_id": "prj_old:A"}).get(FIELD) is None


def test_the_command_prints_what_it_upgraded(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops import cli

    seed_old_documents(store)
    monkeypatch.setattr(cli, "_store", lambda: store)
    runner = CliRunner()

    dry = runner.invoke(cli.main, ["maintenance", "integrity", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "connections: would upgrade 2 of 2" in dry.output
    done = runner.invoke(cli.main, ["maintenance", "integrity"])
    assert "records: upgraded 1 of 1 (v0->v1 stamp: 1)" in done.output
    assert "upgraded 6 document(s)" in done.output
    again = runner.invoke(cli.main, ["maintenance", "integrity"])
    assert "every document is at its current schema version" in again.output


def test_an_integrity_job_upgrades_the_projects_documents_only(
    tenant: Any, store: Store, inline_worker: InlineWorker
) -> None:
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    store.records.insert_one({"_id": f"{pid}:A", "project_id": pid, "key": "A", "data": {}})
    seed_old_documents(store)
    job = tenant.post(
        f"/projects/{pid}/jobs/", {"kind": "integrity", "schedule": {"mode": "manual"}}
    )
    assert job.status_code == 201, job.json
    run = tenant.post(f"/projects/{pid}/jobs/{job.json['id']}/runs")
    inline_worker.drain()

    done = tenant.get(f"/runs/{run.json['id']}").json
    assert done["state"] == "succeeded", done
    [stage] = done["stages"]
    assert stage["name"] == "integrity" and stage["counts"]["records.upgraded"] == 1
    assert store.records.find_one({"_id": f"{pid}:A"})[FIELD] == CURRENT["records"]
    assert FIELD not in store.records.find_one({"_id": "prj_old:A"})


def test_every_way_of_writing_a_document_stamps_the_current_version(
    tenant: Any,
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    inline_worker: InlineWorker,
) -> None:
    add_connectors(monkeypatch, {"recording": "tests.plugins.fakes:RecordingChannel"})
    monkeypatch.setattr(RecordingChannel, "received", [])
    feed = tmp_path / "feed.csv"
    feed.write_text("sku,title,price\nA-1,Red,19.90\nA-2,Blue,21.50\n")
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    source = tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": "feed", "role": "source", "settings": {"url": str(feed)}},
    ).json
    channel = tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": "recording", "role": "channel", "settings": {"fail_keys": {"A-2": "bad"}}},
    ).json
    tenant.post(f"/projects/{pid}/jobs/", {"kind": "sync", "schedule": {"mode": "manual"}})
    run = tenant.post(f"/projects/{pid}/connections/{source['id']}/sync")
    inline_worker.drain()
    assert tenant.get(f"/runs/{run.json['id']}").json["state"] == "succeeded"
    body = b'{"order": 1}'
    connection = store.connections.find_one({"_id": channel["id"]})
    receive_event(
        store,
        pid,
        channel["id"],
        body,
        signature(connection["webhook_secret"], body),
        content_type="application/json",
    )
    ProjectDocuments(store, pid, "orders", connection_id=channel["id"]).upsert_many([("1", {})])
    TaskState(store, channel["id"])["cursor"] = "2026-01-01"

    for name in COLLECTIONS:
        docs = list(store.db[name].find())
        assert docs, f"nothing was written to {name}"
        unstamped = [doc["_id"] for doc in docs if doc.get(FIELD) != CURRENT[name]]
        assert unstamped == [], f"{name} documents without the current version"


def test_the_job_finds_and_upgrades_old_documents_over_the_wire(nx_store: Store) -> None:
    seed_old_documents(nx_store)
    nx_store.records.insert_one(
        {
            "_id": "prj_old:B",
            "project_id": "prj_old",
            "key": "B",
            "schema_version": CURRENT["records"],
        }
    )

    first = run_integrity(nx_store)
    second = run_integrity(nx_store)

    assert first.upgraded == 6 and first.counts()["records.upgraded"] == 1
    assert second.upgraded == 0
    order = nx_store.documents.find_one({"_id": "prj_old:orders:7"})
    assert order[FIELD] == CURRENT["documents"] and order["ordered_at"] == 1_709_208_000_000


def test_a_large_collection_is_upgraded_whole_over_the_wire(nx_store: Store) -> None:
    """More outdated documents than one write batch: the writes of a batch must not make the
    job lose its place among the documents still to read."""
    count = 2 * BATCH + 7
    nx_store.records.insert_many(
        [
            {"_id": f"prj_big:{i:05d}", "project_id": "prj_big", "key": f"{i:05d}", "data": {}}
            for i in range(count)
        ]
    )

    report = run_integrity(nx_store)

    assert report.counts()["records.upgraded"] == count
    left = nx_store.records.count_documents({FIELD: {"$ne": CURRENT["records"]}})
    assert left == 0
    assert run_integrity(nx_store).upgraded == 0
