"""`/projects/{pid}/jobs`: what schedules fire, and "run now"."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api import services
from api.pagination import page_of
from api.schemas import JobIn, JobOut, JobPatch, RunOut
from core import jobs as jobs_service
from core import runs as runs_service
from core.models import Trigger
from core.projects import get_project
from core.schedule import effective_schedule

blp = Blueprint(
    "jobs", __name__, url_prefix="/api/v1/projects/<project_id>/jobs", description="Jobs"
)


def _project(project_id: str) -> dict[str, Any]:
    return get_project(services.store(), services.tenant()["_id"], project_id)


def present(job: dict[str, Any], project: dict[str, Any]) -> dict[str, Any]:
    return {**job, "effective_schedule": effective_schedule(job["schedule"], project["schedule"])}


@blp.route("/")
class Jobs(MethodView):
    @blp.response(200, JobOut(many=True))
    @blp.paginate()
    def get(self, project_id: str, pagination_parameters: Any) -> list[dict[str, Any]]:
        """List a project's jobs with their schedules and next fire times."""
        project = _project(project_id)
        rows = page_of(
            services.store().jobs,
            {"project_id": project["_id"]},
            pagination_parameters,
            [("_id", 1)],
        )
        return [present(j, project) for j in rows]

    @blp.arguments(JobIn)
    @blp.response(201, JobOut)
    def post(self, data: dict[str, Any], project_id: str) -> dict[str, Any]:
        """Create a job; its schedule takes effect at once."""
        project = _project(project_id)
        job = jobs_service.create_job(services.store(), services.tenant(), project, data)
        services.schedules_changed()
        return present(job, project)


@blp.route("/<job_id>")
class JobItem(MethodView):
    @blp.response(200, JobOut)
    def get(self, project_id: str, job_id: str) -> dict[str, Any]:
        """A job."""
        project = _project(project_id)
        return present(jobs_service.get_job(services.store(), project, job_id), project)

    @blp.arguments(JobPatch)
    @blp.response(200, JobOut)
    def patch(self, changes: dict[str, Any], project_id: str, job_id: str) -> dict[str, Any]:
        """Change a job or its schedule; the change takes effect at once."""
        project = _project(project_id)
        job = jobs_service.update_job(services.store(), services.tenant(), project, job_id, changes)
        services.schedules_changed()
        return present(job, project)

    @blp.response(204)
    def delete(self, project_id: str, job_id: str) -> None:
        """Delete a job (its past runs stay in the history)."""
        jobs_service.delete_job(services.store(), _project(project_id), job_id)


@blp.route("/<job_id>/runs", methods=["POST"])
@blp.response(202, RunOut)
@blp.alt_response(409, response="CONFLICT")
def run_now(project_id: str, job_id: str) -> dict[str, Any]:
    """Run the job now (also while the project is paused); 409 if a run already waits."""
    project = _project(project_id)
    job = jobs_service.get_job(services.store(), project, job_id)
    run = runs_service.claim_run(services.store(), job, Trigger.MANUAL)
    assert run is not None  # manual claims raise Conflict instead of coalescing
    services.submit_run(run)
    return run
