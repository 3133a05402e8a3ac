"""`/events/{pid}/{cid}`: webhook intake.

A shop or marketplace posts here directly: the request is signed with the connection's
webhook secret instead of carrying an API key (api/auth.py lets it through), so the secret never
has to be a tenant's key.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint, abort

from api import services
from api.schemas import EventAccepted
from core import events as events_service

URL_PREFIX = "/api/v1/events"

blp = Blueprint("events", __name__, url_prefix=URL_PREFIX, description="Events (webhooks)")

_SIGNATURE_PARAMETER = {
    "in": "header",
    "name": events_service.SIGNATURE_HEADER,
    "required": True,
    "schema": {"type": "string"},
    "description": "`sha256=<hex>`: HMAC-SHA256 of the raw body, keyed with the connection's "
    "`webhook_secret`",
}


def webhook_url(connection: dict[str, Any]) -> str:
    """Where events for this connection are posted."""
    return f"{services.base_url()}{URL_PREFIX}/{connection['project_id']}/{connection['_id']}"


@blp.route("/<project_id>/<connection_id>", methods=["POST"])
@blp.doc(
    security=[],
    parameters=[_SIGNATURE_PARAMETER],
    requestBody={
        "description": f"any body up to {events_service.MAX_BODY_BYTES} bytes; JSON is kept as "
        "JSON, anything else as text",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    },
)
@blp.response(202, EventAccepted)
def receive(project_id: str, connection_id: str) -> dict[str, Any]:
    """Receive an event: it is stored and fires the project's `automatic` jobs, micro-batched
    by their schedules. 401 when the signature is missing or wrong (nothing is stored)."""
    limit = events_service.MAX_BODY_BYTES
    too_large = f"the event body is over {limit} bytes (1 MiB); send what changed, not the data"
    if (request.content_length or 0) > limit:
        abort(413, message=too_large)
    body = request.get_data(cache=False)
    if len(body) > limit:  # a chunked body has no Content-Length
        abort(413, message=too_large)
    intake = events_service.receive_event(
        services.store(),
        project_id,
        connection_id,
        body,
        request.headers.get(events_service.SIGNATURE_HEADER),
        content_type=request.mimetype or None,
    )
    if intake.wake:
        services.schedules_changed()
    return {"event_id": intake.event["_id"], "jobs": intake.job_ids}
