"""`/projects/{pid}/records`: the project's database, filtered by named record sets."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api import services
from api.pagination import page_of
from api.schemas import Timestamp
from core.connections import CHANNEL_ROLE, project_connections
from core.projects import get_project
from core.recordsets import CHANNEL_STATES, RECORD_SETS, channel_states, record_filter

blp = Blueprint(
    "records",
    __name__,
    url_prefix="/api/v1/projects/<project_id>",
    description="Records, filtered by named sets",
)

SET_HELP = (
    "a named set; repeat to intersect. One of: "
    + ", ".join(RECORD_SETS.usage())
    + " (see the README, 'Record and order sets')"
)


class RecordsQuery(Schema):
    set = fields.List(
        fields.String(validate=validate.Length(min=1, max=250)),
        validate=validate.Length(max=20),
        metadata={"description": SET_HELP},
    )


class ChannelStateOut(Schema):
    connection_id = fields.String()
    name = fields.String(allow_none=True)
    state = fields.String(validate=validate.OneOf(CHANNEL_STATES))
    change_state = fields.String(
        allow_none=True, metadata={"description": "the change document's own state"}
    )


class RecordOut(Schema):
    key = fields.String()
    data = fields.Dict()
    hash = fields.String()
    updated_at = Timestamp()
    channels = fields.List(
        fields.Nested(ChannelStateOut),
        metadata={"description": "the record's state on each channel, in send order"},
    )


@blp.route("/records", methods=["GET"])
@blp.arguments(RecordsQuery, location="query")
@blp.response(200, RecordOut(many=True))
@blp.paginate()
def records(
    query: dict[str, Any], project_id: str, pagination_parameters: Any
) -> list[dict[str, Any]]:
    """The project's records in every given set (all of them without `set`), by key, each with
    its state on each channel: in sync, or a pending insert, update or delete."""
    store = services.store()
    project = get_project(store, services.tenant()["_id"], project_id)
    selector = record_filter(store, project, query.get("set") or [])
    rows = page_of(store.records, selector, pagination_parameters, [("_id", 1)])
    channels = [c for c in project_connections(store, project["_id"]) if c["role"] == CHANNEL_ROLE]
    states = channel_states(store, channels, [row["key"] for row in rows])
    return [{**row, "channels": states.get(row["key"], [])} for row in rows]
