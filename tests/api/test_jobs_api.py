from __future__ import annotations

from datetime import datetime
from typing import Any

from core.models import RunState


def _project(tenant: Any, **extra: Any) -> str:
    return str(tenant.post("/projects/", {"name": "Shop", **extra}).json["id"])


def test_a_daily_job_has_its_next_fire_time_in_the_projects_timezone(tenant: Any) -> None:
    pid = _project(tenant, timezone="Asia/Tokyo")
    job = tenant.post(
        f"/projects/{pid}/jobs/",
        {"kind": "sync", "schedule": {"mode": "daily", "times": ["09:00"]}},
    )
    assert job.status_code == 201, job.json
    fire = datetime.fromisoformat(job.json["next_fire_at"])
    assert (fire.hour, fire.minute) == (0, 0)  # 09:00 in Tokyo is 00:00 UTC


def test_a_default_schedule_follows_the_projects_schedule(tenant: Any) -> None:
    pid = _project(tenant)
    job = tenant.post(f"/projects/{pid}/jobs/", {"kind": "sync"}).json
    assert job["schedule"] == {"mode": "default"} and job["next_fire_at"] is None
    tenant.patch(f"/projects/{pid}", {"schedule": {"mode": "interval", "every_minutes": 30}})
    job = tenant.get(f"/projects/{pid}/jobs/{job['id']}").json
    assert job["effective_schedule"]["mode"] == "interval"
    assert job["next_fire_at"] is not None


def test_as_needed_is_refused_on_a_job_without_a_parent_task(tenant: Any) -> None:
    pid = _project(tenant)
    refused = tenant.post(
        f"/projects/{pid}/jobs/", {"kind": "sync", "schedule": {"mode": "as_needed"}}
    )
    assert refused.status_code == 422
    assert "no parent task" in refused.json["message"]
    assert "interval" in refused.json["message"]


def test_a_schedule_over_the_plans_daily_cap_is_refused_with_the_figures(make_tenant: Any) -> None:
    free = make_tenant("free", plan="free")
    pid = _project(free)
    refused = free.post(
        f"/projects/{pid}/jobs/",
        {"kind": "sync", "schedule": {"mode": "interval", "every_minutes": 30}},
    )
    assert refused.status_code == 422
    assert "48 scheduled runs a day" in refused.json["message"]
    assert "allows 24" in refused.json["message"]
    fits = free.post(
        f"/projects/{pid}/jobs/",
        {"kind": "sync", "schedule": {"mode": "interval", "every_minutes": 60}},
    )
    assert fits.status_code == 201


def test_an_automatic_schedule_is_accepted_and_stored(tenant: Any) -> None:
    pid = _project(tenant)
    job = tenant.post(f"/projects/{pid}/jobs/", {"kind": "sync", "schedule": {"mode": "automatic"}})
    assert job.status_code == 201
    assert job.json["schedule"]["mode"] == "automatic" and job.json["next_fire_at"] is None


def test_a_bad_schedule_answers_422_naming_the_field(tenant: Any) -> None:
    pid = _project(tenant)
    bad = tenant.post(
        f"/projects/{pid}/jobs/",
        {"kind": "sync", "schedule": {"mode": "interval", "every_minutes": 0}},
    )
    assert bad.status_code == 422 and "every_minutes" in bad.json["message"]
    bad_kind = tenant.post(f"/projects/{pid}/jobs/", {"kind": "dance"})
    assert bad_kind.status_code == 422 and "kind" in bad_kind.json["message"]


def test_run_now_answers_202_with_the_queued_run_and_sends_it(tenant: Any, broker: Any) -> None:
    pid = _project(tenant)
    jid = tenant.post(f"/projects/{pid}/jobs/", {"kind": "sync"}).json["id"]
    run = tenant.post(f"/projects/{pid}/jobs/{jid}/runs")
    assert run.status_code == 202
    body = run.json
    assert {
        "id",
        "project_id",
        "job_id",
        "trigger",
        "state",
        "queued_at",
        "started_at",
        "finished_at",
        "stages",
        "error",
    } <= set(body)
    assert body["state"] == RunState.QUEUED and body["trigger"] == "manual"
    assert broker.queues["runs"].qsize() == 1
    assert tenant.get(f"/runs/{body['id']}").json["id"] == body["id"]
    assert [r["id"] for r in tenant.get(f"/projects/{pid}/runs").json] == [body["id"]]


def test_a_second_run_now_while_one_waits_answers_409(tenant: Any) -> None:
    pid = _project(tenant)
    jid = tenant.post(f"/projects/{pid}/jobs/", {"kind": "sync"}).json["id"]
    first = tenant.post(f"/projects/{pid}/jobs/{jid}/runs").json
    second = tenant.post(f"/projects/{pid}/jobs/{jid}/runs")
    assert second.status_code == 409
    assert first["id"] in second.json["message"]


def test_another_tenants_jobs_and_runs_answer_404(make_tenant: Any) -> None:
    alice, bob = make_tenant("alice"), make_tenant("bob")
    pid = _project(alice)
    jid = alice.post(f"/projects/{pid}/jobs/", {"kind": "sync"}).json["id"]
    rid = alice.post(f"/projects/{pid}/jobs/{jid}/runs").json["id"]
    assert bob.get(f"/projects/{pid}/jobs/{jid}").status_code == 404
    assert bob.post(f"/projects/{pid}/jobs/{jid}/runs").status_code == 404
    assert bob.get(f"/runs/{rid}").status_code == 404
    assert bob.get(f"/projects/{pid}/runs").status_code == 404
