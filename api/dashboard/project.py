"""A project's page: one tile per job (schedule, last and next run, run now, change schedule),
the connections with their buttons, the recent runs; and the project's stats page."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from api import services
from api.dashboard import blp, forms, scope
from api.projects import present as project_with_warnings
from api.schemas import JobIn, JobPatch
from core import jobs as jobs_service
from core import projects as projects_service
from core import runs as runs_service
from core.errors import Invalid
from core.models import ConnectionRole, JobKind, Trigger
from core.pipeline.changes import ChangeState
from core.schedule import MODES, effective_schedule
from core.stats import project_stats
from plugins.registry import available

RECENT_RUNS = 10


def _job_tile(job: dict[str, Any], project: dict[str, Any]) -> dict[str, Any]:
    store = services.store()
    last = list(
        store.runs.find({"project_id": project["_id"], "job_id": job["_id"]})
        .sort([("queued_at", -1), ("_id", -1)])
        .limit(1)
    )
    try:
        effective: dict[str, Any] | None = effective_schedule(job["schedule"], project["schedule"])
    except Invalid:
        effective = None
    return {
        "job": job,
        "effective": effective,
        "last_run": last[0] if last else None,
        "fields": forms.schedule_fields(job["schedule"]),
    }


def _connection_rows(project: dict[str, Any]) -> list[dict[str, Any]]:
    store = services.store()
    rows = []
    for connection in store.connections.find({"project_id": project["_id"]}).sort(
        [("order", 1), ("_id", 1)]
    ):
        pending = None
        if connection["role"] == ConnectionRole.CHANNEL.value:
            pending = store.changes.count_documents(
                {"connection_id": connection["_id"], "state": ChangeState.PENDING.value}
            )
        rows.append({"connection": connection, "pending": pending})
    return rows


def render_project(
    project: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    forms_sent: dict[str, dict[str, str]] | None = None,
    status: int = 200,
) -> Any:
    store = services.store()
    jobs = list(store.jobs.find({"project_id": project["_id"]}).sort([("_id", 1)]))
    tiles = [_job_tile(job, project) for job in jobs]
    sent = forms_sent or {}
    for tile in tiles:
        if tile["job"]["_id"] in sent:
            tile["fields"] = sent[tile["job"]["_id"]]
    recent = store.runs.find({"project_id": project["_id"]}).sort([("queued_at", -1), ("_id", -1)])
    body = render_template(
        "project.html",
        project=project_with_warnings(project),
        owner=scope.owner(project),
        tiles=tiles,
        connections=_connection_rows(project),
        runs=list(recent.limit(RECENT_RUNS)),
        errors=errors or {},
        sent=sent,
        modes=MODES,
        kinds=[k.value for k in JobKind],
        roles=[r.value for r in ConnectionRole],
        connectors=available(),
    )
    return body, status


@blp.route("/projects/<project_id>")
def project_page(project_id: str) -> Any:
    return render_project(scope.project(project_id))


@blp.route("/projects/<project_id>/pause", methods=["POST"])
def pause_project(project_id: str) -> Response:
    return _set_paused(project_id, True)


@blp.route("/projects/<project_id>/resume", methods=["POST"])
def resume_project(project_id: str) -> Response:
    return _set_paused(project_id, False)


def _set_paused(project_id: str, paused: bool) -> Response:
    project = scope.project(project_id)
    projects_service.update_project(
        services.store(), scope.owner(project), project_id, {"paused": paused}
    )
    services.schedules_changed()
    return redirect(url_for("dashboard.project_page", project_id=project_id))


@blp.route("/projects/<project_id>/jobs/<job_id>/run", methods=["POST"])
def run_job_now(project_id: str, job_id: str) -> Response:
    """Run now, then watch the run's page."""
    project = scope.project(project_id)
    job = jobs_service.get_job(services.store(), project, job_id)
    run = runs_service.claim_run(services.store(), job, Trigger.MANUAL)
    assert run is not None  # manual claims raise Conflict instead of coalescing
    services.submit_run(run)
    return redirect(url_for("dashboard.run_page", run_id=run["_id"]))


@blp.route("/projects/<project_id>/jobs/<job_id>/schedule", methods=["POST"])
def change_schedule(project_id: str, job_id: str) -> Any:
    project = scope.project(project_id)
    fields = {name: request.form.get(name, "") for name in forms.SCHEDULE_FIELDS}
    try:
        changes = forms.load(JobPatch(), {"schedule": forms.schedule(request.form)})
        jobs_service.update_job(services.store(), scope.owner(project), project, job_id, changes)
    except Invalid as exc:
        jobs_service.get_job(services.store(), project, job_id)  # an unknown job is a 404
        return render_project(
            project, errors={job_id: exc.message}, forms_sent={job_id: fields}, status=422
        )
    services.schedules_changed()
    return redirect(url_for("dashboard.project_page", project_id=project_id) + f"#{job_id}")


@blp.route("/projects/<project_id>/jobs", methods=["POST"])
def add_job(project_id: str) -> Any:
    project = scope.project(project_id)
    form = request.form
    sent = {name: form.get(name, "") for name in (*forms.SCHEDULE_FIELDS, "kind", "name")}
    sent.update(connection_id=form.get("connection_id", ""), task=form.get("task", ""))
    try:
        data: dict[str, Any] = {"kind": form.get("kind", ""), "schedule": forms.schedule(form)}
        for name in ("name", "connection_id", "task"):
            if form.get(name, "").strip():
                data[name] = form[name].strip()
        job = jobs_service.create_job(
            services.store(), scope.owner(project), project, forms.load(JobIn(), data)
        )
    except Invalid as exc:
        return render_project(
            project, errors={"new_job": exc.message}, forms_sent={"new_job": sent}, status=422
        )
    services.schedules_changed()
    return redirect(url_for("dashboard.project_page", project_id=project_id) + f"#{job['_id']}")


@blp.route("/projects/<project_id>/stats")
def stats_page(project_id: str) -> Any:
    project = scope.project(project_id)
    stats = project_stats(services.store(), project)
    names = {
        c["_id"]: c.get("name") or c["_id"]
        for c in services.store().connections.find({"project_id": project_id})
    }
    return render_template(
        "stats.html", project=project, stats=stats, names=names, change_states=list(ChangeState)
    )
