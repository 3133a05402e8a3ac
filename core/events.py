"""Events: webhook notifications (a new order, a stock change) that fire `automatic` jobs.

An event is posted to `/api/v1/events/{project}/{connection}` with its raw body signed by the
connection's webhook secret: `X-Syncfarm-Signature: sha256=<hex HMAC-SHA256 of the body>`.
A verified event is stored (its body capped at STORED_BODY_BYTES) and added to the batch of
every enabled `automatic` job of the project (core/batches.py), which fires the job once the
batch is due. An event that is not verified is not stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from core import batches
from core.clock import now_ms
from core.errors import BadSignature, NotFound
from core.ids import new_id
from core.store import Store
from core.versions import versioned

SIGNATURE_HEADER = "X-Syncfarm-Signature"
MAX_BODY_BYTES = 1024 * 1024
"""Larger bodies are refused (413): a notification says what changed, not the catalog."""
STORED_BODY_BYTES = 64 * 1024
"""How much of a body is kept in the event; the rest is cut (`body_truncated`)."""
MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class Intake:
    """What receiving an event did: the stored event and the automatic jobs it was batched
    into. `wake` is true when a job is now due sooner than before (the ticker should look)."""

    event: dict[str, Any]
    job_ids: list[str] = field(default_factory=list)
    wake: bool = False


def signature(secret: str, body: bytes) -> str:
    """The value of SIGNATURE_HEADER for `body` signed with `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, given: str | None) -> bool:
    if not given:
        return False
    expected = signature(secret, body).encode()
    return hmac.compare_digest(expected, given.strip().lower().encode("utf-8", "replace"))


def receive_event(
    store: Store,
    project_id: str,
    connection_id: str,
    body: bytes,
    given_signature: str | None,
    *,
    content_type: str | None = None,
    now: int | None = None,
) -> Intake:
    """Verify, store and batch one event.

    Raises NotFound for an unknown project or connection, or one of another project (without
    saying which), and BadSignature when the signature is missing or wrong: nothing is stored
    then. A connection that has no secret yet verifies nothing (its secret is made when it is
    first shown to its tenant).
    """
    connection = store.connections.find_one({"_id": connection_id})
    project = store.projects.find_one({"_id": project_id}) if connection else None
    if connection is None or project is None or connection["project_id"] != project_id:
        raise NotFound(
            f"no project {project_id!r} with connection {connection_id!r}; post events to the "
            "connection's webhook_url"
        )
    secret = connection.get("webhook_secret")
    if not secret or not signature_matches(secret, body, given_signature):
        raise BadSignature(
            f"the {SIGNATURE_HEADER} header is missing or does not match the body; send "
            "`sha256=<hex>`, the HMAC-SHA256 of the raw body keyed with the connection's "
            "webhook_secret"
        )
    now = now or now_ms()
    jobs = batches.automatic_jobs(store, project)
    event = {
        "_id": new_id("evt"),
        "tenant_id": project["tenant_id"],
        "project_id": project_id,
        "connection_id": connection_id,
        "received_at": now,
        "content_type": content_type,
        **stored_body(body, content_type),
        "job_ids": [job["_id"] for job in jobs],
        "run_ids": {},
        **versioned("events"),
    }
    store.events.insert_one(event)
    wake = False
    for job in jobs:
        wake = batches.add_event(store, job, project, now) or wake
    return Intake(event=event, job_ids=event["job_ids"], wake=wake)


def stored_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The body as stored: parsed JSON when it is JSON (by its content type, or by its bytes
    when no type is given) that every store can keep, else text (UTF-8, undecodable bytes
    replaced), cut to STORED_BODY_BYTES."""
    kept = {"body_bytes": len(body), "body_truncated": len(body) > STORED_BODY_BYTES}
    maybe_json = content_type is None or "json" in content_type
    if maybe_json and not kept["body_truncated"]:
        with contextlib.suppress(ValueError, RecursionError):
            parsed = json.loads(body)
            if _storable(parsed, 0):
                return {**kept, "body": parsed, "body_format": "json"}
    text = body[:STORED_BODY_BYTES].decode("utf-8", "replace")
    return {**kept, "body": text, "body_format": "text"}


def _storable(value: Any, depth: int) -> bool:
    """True when MongoDB, nx-27017 and mongomock all keep `value` as it is: 64-bit integers,
    keys without NUL, dots or a leading `$`, and a sane nesting depth."""
    if depth > MAX_JSON_DEPTH:
        return False
    if isinstance(value, bool) or value is None or isinstance(value, float | str):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, list):
        return all(_storable(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            key and "\0" not in key and "." not in key and not key.startswith("$") for key in value
        ) and all(_storable(item, depth + 1) for item in value.values())
    return False
