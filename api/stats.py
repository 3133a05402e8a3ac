"""A project's figures at a glance (`/projects/{pid}/stats`)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from api import services
from api.schemas import Timestamp
from core.projects import get_project
from core.stats import project_stats

blp = Blueprint(
    "stats", __name__, url_prefix="/api/v1/projects/<project_id>", description="Project stats"
)


class ChannelChangesOut(Schema):
    connection_id = fields.String()
    name = fields.String(allow_none=True)
    connector = fields.String(allow_none=True)
    states = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "change documents per state, every state present"},
    )


class LastRunOut(Schema):
    id = fields.String(attribute="_id")
    job_id = fields.String()
    state = fields.String()
    queued_at = Timestamp()
    finished_at = Timestamp(allow_none=True)


class StatsOut(Schema):
    project_id = fields.String()
    records = fields.Integer(metadata={"description": "records in the project's database"})
    changes = fields.List(
        fields.Nested(ChannelChangesOut), metadata={"description": "per channel, in send order"}
    )
    open_issues = fields.Integer()
    runs = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "runs per state, every state present"},
    )
    last_runs = fields.List(fields.Nested(LastRunOut), metadata={"description": "newest first"})


@blp.route("/stats", methods=["GET"])
@blp.response(200, StatsOut)
def stats(project_id: str) -> dict[str, Any]:
    """Counts per state and per channel, open issues and the last 5 runs."""
    project = get_project(services.store(), services.tenant()["_id"], project_id)
    return project_stats(services.store(), project)
