"""The projects overview: state, last and next run, pending changes and issues per project."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from api import services
from api.dashboard import blp, forms, scope
from api.projects import present as project_with_warnings
from api.schemas import ProjectIn
from core import projects as projects_service
from core.errors import Invalid
from core.models import ConnectionRole
from core.pipeline.changes import ChangeState

PAGE_SIZE = 50


def project_summary(project: dict[str, Any]) -> dict[str, Any]:
    """What the overview shows of one project (a handful of indexed queries)."""
    store = services.store()
    pid = project["_id"]
    jobs = list(store.jobs.find({"project_id": pid}))
    if project.get("paused"):
        state = "paused"
    elif any(j.get("running_run_id") for j in jobs):
        state = "running"
    elif any(j.get("pending_run_id") for j in jobs):
        state = "queued"
    else:
        state = "idle"
    last = list(
        store.runs.find({"project_id": pid}).sort([("queued_at", -1), ("_id", -1)]).limit(1)
    )
    fires = [j["next_fire_at"] for j in jobs if j.get("next_fire_at") is not None]
    channels = [
        c["_id"]
        for c in store.connections.find(
            {"project_id": pid, "role": ConnectionRole.CHANNEL.value}, {"_id": 1}
        )
    ]
    return {
        "project": project_with_warnings(project),
        "state": state,
        "last_run": last[0] if last else None,
        "next_run_at": min(fires) if fires else None,
        # by the (connection, state) index: a project's changes can be millions
        "pending_changes": store.changes.count_documents(
            {"connection_id": {"$in": channels}, "state": ChangeState.PENDING.value}
        )
        if channels
        else 0,
        "issues": store.issues.count_documents({"project_id": pid}),
    }


def _tenant_names(projects: list[dict[str, Any]]) -> dict[str, str]:
    ids = sorted({p["tenant_id"] for p in projects})
    found = services.store().tenants.find({"_id": {"$in": ids}}, {"name": 1})
    return {t["_id"]: t.get("name", t["_id"]) for t in found}


def render_overview(form: dict[str, str] | None = None, error: str | None = None) -> Any:
    store = services.store()
    query = scope.projects_query()
    total = store.projects.count_documents(query)
    page, pages = forms.page_of(request.args, total, PAGE_SIZE)
    rows = list(
        store.projects.find(query).sort([("_id", 1)]).skip((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    )
    body = render_template(
        "overview.html",
        summaries=[project_summary(p) for p in rows],
        tenants=_tenant_names(rows) if scope.is_operator() else {},
        page=page,
        pages=pages,
        total=total,
        form=form or {"timezone": "UTC"},
        error=error,
    )
    return body, 422 if error else 200


@blp.route("/")
def projects() -> Any:
    return render_overview()


@blp.route("/projects", methods=["POST"])
def create_project() -> Any:
    form = request.form.to_dict()
    data = {"name": form.get("name", "").strip(), "timezone": form.get("timezone", "").strip()}
    if not data["timezone"]:
        data.pop("timezone")
    try:
        project = projects_service.create_project(
            services.store(), scope.tenant(), forms.load(ProjectIn(), data)
        )
    except Invalid as exc:
        return render_overview(form, exc.message)
    return redirect(url_for("dashboard.project_page", project_id=project["_id"]))
