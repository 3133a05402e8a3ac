"""Change documents and issues of a project (its records are in `api.records`)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api import services
from api.pagination import page_of
from api.schemas import Timestamp
from core.clock import now_ms
from core.connections import get_connection
from core.pipeline.changes import ChangeState
from core.pipeline.retries import reset_changes
from core.projects import get_project
from core.troubleshoot import troubleshoot

blp = Blueprint(
    "changes",
    __name__,
    url_prefix="/api/v1/projects/<project_id>",
    description="Changes and issues",
)


class ChangesQuery(Schema):
    channel = fields.String(metadata={"description": "a channel connection id"})
    state = fields.String(validate=validate.OneOf([s.value for s in ChangeState]))


class ChangeOut(Schema):
    connection_id = fields.String()
    key = fields.String()
    op = fields.String()
    state = fields.String()
    hash = fields.String(allow_none=True)
    acked_hash = fields.String(allow_none=True)
    attempts = fields.Integer()
    last_error = fields.Dict(allow_none=True)
    updated_at = Timestamp()


class ApproveIn(Schema):
    channel = fields.String(required=True)
    keys = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=10_000))


class ApproveOut(Schema):
    approved = fields.Integer()


class IssueOut(Schema):
    connection_id = fields.String()
    key = fields.String()
    code = fields.String(allow_none=True)
    message = fields.String(allow_none=True)
    count = fields.Integer()
    needs_person = fields.Boolean()
    first_seen = Timestamp()
    last_seen = Timestamp()
    run_id = fields.String(allow_none=True)


def _project(project_id: str) -> dict[str, Any]:
    return get_project(services.store(), services.tenant()["_id"], project_id)


@blp.route("/changes", methods=["GET"])
@blp.arguments(ChangesQuery, location="query")
@blp.response(200, ChangeOut(many=True))
@blp.paginate()
def changes(
    query: dict[str, Any], project_id: str, pagination_parameters: Any
) -> list[dict[str, Any]]:
    """Change documents per channel and record; `state=pending` is what a send would do."""
    project = _project(project_id)
    selector: dict[str, Any] = {"project_id": project["_id"]}
    if "channel" in query:
        selector["connection_id"] = get_connection(services.store(), project, query["channel"])[
            "_id"
        ]
    if "state" in query:
        selector["state"] = query["state"]
    return page_of(services.store().changes, selector, pagination_parameters, [("_id", 1)])


@blp.route("/changes/approve", methods=["POST"])
@blp.arguments(ApproveIn)
@blp.response(200, ApproveOut)
def approve(data: dict[str, Any], project_id: str) -> dict[str, Any]:
    """Let new records through to a channel that does not absorb them automatically."""
    project = _project(project_id)
    channel = get_connection(services.store(), project, data["channel"])
    ids = [f"{channel['_id']}:{key}" for key in data["keys"]]
    done = services.store().changes.update_many(
        {"_id": {"$in": ids}, "state": ChangeState.UNAPPROVED.value},
        {"$set": {"state": ChangeState.PENDING.value, "approved": True, "updated_at": now_ms()}},
    )
    return {"approved": done.modified_count}


class ResetIn(Schema):
    channel = fields.String(required=True)
    keys = fields.List(
        fields.String(),
        validate=validate.Length(min=1, max=10_000),
        metadata={"description": "default: every stopped or failed change"},
    )


class ResetOut(Schema):
    reset = fields.Integer()


@blp.route("/changes/reset", methods=["POST"])
@blp.arguments(ResetIn)
@blp.response(200, ResetOut)
def reset(data: dict[str, Any], project_id: str) -> dict[str, Any]:
    """Send stopped (or failed) changes again at the next send, after a person fixed the cause."""
    project = _project(project_id)
    channel = get_connection(services.store(), project, data["channel"])
    return {"reset": reset_changes(services.store(), channel, data.get("keys"))}


class TroubleshootOut(Schema):
    connection_id = fields.String()
    code = fields.String(allow_none=True)
    pattern = fields.String()
    example = fields.String(allow_none=True)
    count = fields.Integer()
    needs_person = fields.Integer()
    sample_keys = fields.List(fields.String())
    first_seen = Timestamp()
    last_seen = Timestamp()


@blp.route("/troubleshoot", methods=["GET"])
@blp.response(200, TroubleshootOut(many=True))
def troubleshoot_view(project_id: str) -> list[dict[str, Any]]:
    """Issues grouped by channel, platform code and message pattern, largest group first."""
    return troubleshoot(services.store(), _project(project_id)["_id"])


@blp.route("/issues", methods=["GET"])
@blp.response(200, IssueOut(many=True))
@blp.paginate()
def issues(project_id: str, pagination_parameters: Any) -> list[dict[str, Any]]:
    """Open issues: per record and channel (or `*` for a whole source), newest first."""
    project = _project(project_id)
    return page_of(
        services.store().issues,
        {"project_id": project["_id"]},
        pagination_parameters,
        [("last_seen", -1), ("_id", 1)],
    )
