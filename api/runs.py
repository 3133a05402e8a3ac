"""Run history (`/projects/{pid}/runs`) and run detail (`/runs/{rid}`)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api import services
from api.pagination import page_of
from api.schemas import RunOut, RunsQuery
from core.projects import get_project
from core.runs import get_run

blp = Blueprint("runs", __name__, url_prefix="/api/v1", description="Runs")


@blp.route("/projects/<project_id>/runs", methods=["GET"])
@blp.arguments(RunsQuery, location="query")
@blp.response(200, RunOut(many=True))
@blp.paginate()
def project_runs(
    query: dict[str, Any], project_id: str, pagination_parameters: Any
) -> list[dict[str, Any]]:
    """A project's runs, newest first; filter by `state` or `job_id`."""
    project = get_project(services.store(), services.tenant()["_id"], project_id)
    return page_of(
        services.store().runs,
        {"project_id": project["_id"], **query},
        pagination_parameters,
        [("queued_at", -1), ("_id", -1)],
    )


@blp.route("/runs/<run_id>", methods=["GET"])
@blp.response(200, RunOut)
def run_detail(run_id: str) -> dict[str, Any]:
    """A run: state, stage timings and counts, progress and error."""
    return get_run(services.store(), services.tenant()["_id"], run_id)
