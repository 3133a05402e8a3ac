"""`/projects/{pid}/orders`: the project's orders, filtered by named order sets."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api import services
from api.pagination import page_of
from api.schemas import Timestamp
from core.projects import get_project
from core.recordsets import ORDER_SETS, order_filter

blp = Blueprint(
    "orders",
    __name__,
    url_prefix="/api/v1/projects/<project_id>",
    description="Orders, filtered by named sets",
)


class OrdersQuery(Schema):
    set = fields.List(
        fields.String(validate=validate.Length(min=1, max=250)),
        validate=validate.Length(max=20),
        metadata={
            "description": "a named set; repeat to intersect. One of: "
            + ", ".join(ORDER_SETS.usage())
            + " (dates in the project's timezone)"
        },
    )


class OrderOut(Schema):
    key = fields.String()
    connection_id = fields.String(
        allow_none=True, metadata={"description": "the connection that stored it"}
    )
    data = fields.Dict(metadata={"description": "the order as the platform gave it"})
    marks = fields.Dict(metadata={"description": "what syncfarm did with it (delivered…)"})
    ordered_at = Timestamp(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()


@blp.route("/orders", methods=["GET"])
@blp.arguments(OrdersQuery, location="query")
@blp.response(200, OrderOut(many=True))
@blp.paginate()
def orders(
    query: dict[str, Any], project_id: str, pagination_parameters: Any
) -> list[dict[str, Any]]:
    """The project's orders in every given set (all of them without `set`), newest first."""
    store = services.store()
    project = get_project(store, services.tenant()["_id"], project_id)
    selector = order_filter(store, project, query.get("set") or [])
    return page_of(
        store.documents, selector, pagination_parameters, [("ordered_at", -1), ("_id", 1)]
    )
