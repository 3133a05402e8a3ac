"""`/projects`: a merchant integration each, with its timezone and default schedule."""

from __future__ import annotations

import shutil
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api import services
from api.pagination import page_of
from api.schemas import ProjectIn, ProjectOut, ProjectPatch
from core import projects as projects_service
from core.jobs import scheduled_runs_per_day
from core.pipeline.rawindex import raw_index_dir

blp = Blueprint("projects", __name__, url_prefix="/api/v1/projects", description="Projects")


def present(project: dict[str, Any]) -> dict[str, Any]:
    jobs = list(services.store().jobs.find({"project_id": project["_id"]}))
    warnings = []
    if project["paused"]:
        warnings.append("paused: no scheduled runs until resumed")
    elif scheduled_runs_per_day(jobs, project) == 0:
        warnings.append("no enabled schedule: this project will not produce any import/export")
    return {**project, "warnings": warnings}


@blp.route("/")
class Projects(MethodView):
    @blp.response(200, ProjectOut(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> list[dict[str, Any]]:
        """List the tenant's projects."""
        query = {"tenant_id": services.tenant()["_id"]}
        rows = page_of(services.store().projects, query, pagination_parameters, [("_id", 1)])
        return [present(p) for p in rows]

    @blp.arguments(ProjectIn)
    @blp.response(201, ProjectOut)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create a project."""
        project = projects_service.create_project(services.store(), services.tenant(), data)
        return present(project)


@blp.route("/<project_id>")
class ProjectItem(MethodView):
    @blp.response(200, ProjectOut)
    def get(self, project_id: str) -> dict[str, Any]:
        """A project."""
        return present(
            projects_service.get_project(services.store(), services.tenant()["_id"], project_id)
        )

    @blp.arguments(ProjectPatch)
    @blp.response(200, ProjectOut)
    def patch(self, changes: dict[str, Any], project_id: str) -> dict[str, Any]:
        """Change a project; a new timezone or schedule reschedules its jobs at once."""
        project = projects_service.update_project(
            services.store(), services.tenant(), project_id, changes
        )
        services.schedules_changed()
        return present(project)

    @blp.response(204)
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, project_id: str) -> None:
        """Delete a project with its connections, jobs, runs, records, exported files and raw
        indexes; refused (409) while one of its runs is queued or running."""
        projects_service.delete_project(services.store(), services.tenant()["_id"], project_id)
        data_dir = services.settings().data_dir
        shutil.rmtree(data_dir / "exports" / project_id, ignore_errors=True)
        shutil.rmtree(raw_index_dir(data_dir, project_id), ignore_errors=True)


def _set_paused(project_id: str, paused: bool) -> dict[str, Any]:
    project = projects_service.update_project(
        services.store(), services.tenant(), project_id, {"paused": paused}
    )
    services.schedules_changed()
    return present(project)


@blp.route("/<project_id>/pause", methods=["POST"])
@blp.response(200, ProjectOut)
def pause(project_id: str) -> dict[str, Any]:
    """Pause: no scheduled runs until resumed (manual runs still work)."""
    return _set_paused(project_id, True)


@blp.route("/<project_id>/resume", methods=["POST"])
@blp.response(200, ProjectOut)
def resume(project_id: str) -> dict[str, Any]:
    """Resume scheduled runs."""
    return _set_paused(project_id, False)
