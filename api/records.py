"""`/projects/{pid}/records`: the project's database, filtered by named record sets."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api import services
from api.schemas import Timestamp
from core.connections import CHANNEL_ROLE, project_connections
from core.projects import get_project
from core.recordsets import CHANNEL_STATES, RECORD_SETS, channel_states, select_records

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


TOTAL_EXACT_HEADER = "X-Total-Exact"


@blp.route("/records", methods=["GET"])
@blp.arguments(RecordsQuery, location="query")
@blp.response(
    200,
    RecordOut(many=True),
    headers={
        TOTAL_EXACT_HEADER: {
            "description": "`false` when the `X-Pagination` total is a lower bound: sets read "
            "from changes, issues or checked values are counted only so far on big catalogs "
            "(see the README, 'Record and order sets')",
            "schema": {"type": "string", "enum": ["true", "false"]},
        }
    },
)
@blp.paginate()
def records(query: dict[str, Any], project_id: str, pagination_parameters: Any) -> Any:
    """The project's records in every given set (all of them without `set`), by key, each with
    its state on each channel: in sync, or a pending insert, update or delete."""
    store = services.store()
    project = get_project(store, services.tenant()["_id"], project_id)
    selection = select_records(store, project, query.get("set") or [])
    page = selection.page(pagination_parameters.first_item, pagination_parameters.page_size)
    pagination_parameters.item_count = page.total
    channels = [c for c in project_connections(store, project["_id"]) if c["role"] == CHANNEL_ROLE]
    states = channel_states(store, channels, [row["key"] for row in page.records])
    rows = [{**row, "channels": states.get(row["key"], [])} for row in page.records]
    return rows, 200, {TOTAL_EXACT_HEADER: "true" if page.exact else "false"}
