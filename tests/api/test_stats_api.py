from __future__ import annotations

from datetime import datetime
from typing import Any

from core.store import Store


def _project_with_a_channel(tenant: Any) -> tuple[str, str]:
    pid = str(tenant.post("/projects/", {"name": "Shop"}).json["id"])
    channel = tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": "file", "role": "channel", "settings": {"filename": "products.csv"}},
    )
    assert channel.status_code == 201, channel.json
    return pid, str(channel.json["id"])


def _run(n: int, pid: str, tenant_id: str, state: str) -> dict[str, Any]:
    return {
        "_id": f"run_{n:02d}",
        "tenant_id": tenant_id,
        "project_id": pid,
        "job_id": "job_1",
        "job_kind": "sync",
        "state": state,
        "queued_at": 1_700_000_000_000 + n * 60_000,
        "finished_at": 1_700_000_030_000 + n * 60_000 if state == "succeeded" else None,
    }


def test_stats_count_records_changes_issues_and_runs_of_the_project(
    tenant: Any, store: Store
) -> None:
    pid, cid = _project_with_a_channel(tenant)
    store.records.insert_many([{"_id": f"{pid}:A-{n}", "project_id": pid} for n in range(3)])
    store.changes.insert_many(
        [
            {"_id": f"{cid}:A-{n}", "project_id": pid, "connection_id": cid, "state": state}
            for n, state in enumerate(["pending", "pending", "failed"])
        ]
    )
    store.issues.insert_one({"_id": f"{cid}:A-2", "project_id": pid, "connection_id": cid})
    states = ["succeeded"] * 6 + ["failed", "queued"]
    store.runs.insert_many([_run(n, pid, tenant.id, state) for n, state in enumerate(states)])

    stats = tenant.get(f"/projects/{pid}/stats")

    assert stats.status_code == 200, stats.json
    body = stats.json
    assert body["records"] == 3
    assert body["open_issues"] == 1
    [channel] = body["changes"]
    assert channel["connection_id"] == cid and channel["connector"] == "file"
    assert channel["states"] == {
        "pending": 2,
        "unapproved": 0,
        "sending": 0,
        "done": 0,
        "failed": 1,
        "stopped": 0,
    }
    assert body["runs"]["succeeded"] == 6
    assert body["runs"]["failed"] == 1 and body["runs"]["queued"] == 1
    assert body["runs"]["running"] == 0
    assert [run["id"] for run in body["last_runs"]] == [f"run_{n:02d}" for n in (7, 6, 5, 4, 3)]
    newest = body["last_runs"][0]
    assert newest["state"] == "queued" and newest["finished_at"] is None
    assert newest["job_id"] == "job_1"
    assert datetime.fromisoformat(body["last_runs"][2]["finished_at"]).year == 2023


def test_a_new_project_has_zero_everywhere(tenant: Any) -> None:
    pid = str(tenant.post("/projects/", {"name": "Empty"}).json["id"])
    body = tenant.get(f"/projects/{pid}/stats").json
    assert body["records"] == 0 and body["open_issues"] == 0
    assert body["changes"] == [] and body["last_runs"] == []
    assert set(body["runs"].values()) == {0}


def test_another_tenants_project_stats_answer_404(make_tenant: Any) -> None:
    owner, other = make_tenant("owner"), make_tenant("other")
    pid, _ = _project_with_a_channel(owner)
    refused = other.get(f"/projects/{pid}/stats")
    assert refused.status_code == 404
    assert refused.json["code"] == 404 and "message" in refused.json


def test_stats_are_in_the_openapi_document(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").json
    assert "/api/v1/projects/{project_id}/stats" in spec["paths"]
    assert "StatsOut" in spec["components"]["schemas"]
