from __future__ import annotations

from typing import Any


def test_a_project_is_created_listed_changed_and_deleted(tenant: Any) -> None:
    created = tenant.post("/projects/", {"name": "Shop", "timezone": "Europe/Berlin"})
    assert created.status_code == 201, created.json
    pid = created.json["id"]
    assert created.json["timezone"] == "Europe/Berlin"
    assert created.json["schedule"] == {"mode": "manual"}

    listed = tenant.get("/projects/")
    assert [p["id"] for p in listed.json] == [pid]
    assert "X-Pagination" in listed.headers

    changed = tenant.patch(f"/projects/{pid}", {"name": "Shop DE"})
    assert changed.status_code == 200 and changed.json["name"] == "Shop DE"

    assert tenant.delete(f"/projects/{pid}").status_code == 204
    assert tenant.get(f"/projects/{pid}").status_code == 404


def test_calls_without_a_valid_api_key_are_refused(client: Any) -> None:
    missing = client.get("/api/v1/projects/")
    assert missing.status_code == 401
    assert "API key" in missing.json["message"]
    wrong = client.get("/api/v1/projects/", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_another_tenants_project_answers_404_and_is_not_changed(make_tenant: Any) -> None:
    alice, bob = make_tenant("alice"), make_tenant("bob")
    pid = alice.post("/projects/", {"name": "Alice's"}).json["id"]
    assert bob.get(f"/projects/{pid}").status_code == 404
    assert bob.patch(f"/projects/{pid}", {"name": "mine"}).status_code == 404
    assert bob.delete(f"/projects/{pid}").status_code == 404
    assert bob.get("/projects/").json == []
    assert alice.get(f"/projects/{pid}").json["name"] == "Alice's"


def test_bad_input_answers_422_naming_the_field_and_the_problem(tenant: Any) -> None:
    missing = tenant.post("/projects/", {"timezone": "UTC"})
    assert missing.status_code == 422
    assert set(missing.json) >= {"code", "status", "message", "errors"}
    assert "name" in missing.json["message"]

    zone = tenant.post("/projects/", {"name": "x", "timezone": "Mars/Olympus"})
    assert zone.status_code == 422
    assert "Mars/Olympus" in zone.json["message"]

    unknown = tenant.post("/projects/", {"name": "x", "colour": "red"})
    assert unknown.status_code == 422 and "colour" in unknown.json["message"]

    not_json = tenant.client.post(
        "/api/v1/projects/",
        data="{oops",
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert 400 <= not_json.status_code < 500
    assert not_json.json["code"] == not_json.status_code


def test_unknown_paths_and_methods_answer_json_errors(tenant: Any) -> None:
    nowhere = tenant.get("/nowhere")
    assert nowhere.status_code == 404 and nowhere.json["code"] == 404
    wrong_method = tenant.client.put("/api/v1/projects/", headers=tenant.headers)
    assert wrong_method.status_code == 405 and wrong_method.json["code"] == 405


def test_the_plan_caps_the_number_of_projects(make_tenant: Any) -> None:
    small = make_tenant("small", plan="free")
    for n in range(3):
        assert small.post("/projects/", {"name": f"p{n}"}).status_code == 201
    refused = small.post("/projects/", {"name": "one too many"})
    assert refused.status_code == 422
    assert "allows 3 projects" in refused.json["message"]


def test_openapi_document_and_swagger_ui_are_served(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    paths = spec.json["paths"]
    assert "/api/v1/projects/{project_id}/jobs/{job_id}/runs" in paths
    assert "/api/v1/runs/{run_id}" in paths
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"swagger" in docs.data.lower()


def test_a_project_without_an_enabled_schedule_carries_a_warning(tenant: Any) -> None:
    project = tenant.post("/projects/", {"name": "idle"}).json
    assert any("will not produce" in w for w in project["warnings"])
    pid = project["id"]
    tenant.post(
        f"/projects/{pid}/jobs/",
        {"kind": "sync", "schedule": {"mode": "daily", "times": ["06:00"]}},
    )
    assert tenant.get(f"/projects/{pid}").json["warnings"] == []
    paused = tenant.post(f"/projects/{pid}/pause")
    assert paused.json["paused"] is True and paused.json["warnings"]
    assert tenant.post(f"/projects/{pid}/resume").json["paused"] is False


def test_a_project_with_an_active_run_cannot_be_deleted(tenant: Any) -> None:
    pid = tenant.post("/projects/", {"name": "busy"}).json["id"]
    jid = tenant.post(f"/projects/{pid}/jobs/", {"kind": "sync"}).json["id"]
    rid = tenant.post(f"/projects/{pid}/jobs/{jid}/runs").json["id"]
    refused = tenant.delete(f"/projects/{pid}")
    assert refused.status_code == 409 and rid in refused.json["message"]
    assert tenant.get(f"/projects/{pid}").status_code == 200


def test_deleting_a_project_removes_its_files_from_the_data_folder(
    tenant: Any, settings: Any
) -> None:
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    kept = [settings.data_dir / "exports" / pid, settings.data_dir / "raw-index" / pid]
    other = settings.data_dir / "raw-index" / "another-project"
    for folder in [*kept, other]:
        folder.mkdir(parents=True)
        (folder / "c.raw").write_bytes(b"x")
    assert tenant.delete(f"/projects/{pid}").status_code == 204
    assert [folder.exists() for folder in kept] == [False, False]
    assert (other / "c.raw").exists()
