"""Turning posted forms into the REST API's request bodies, and errors into form messages.

A form is checked by the API's own marshmallow schema and then by the same `core/` function
the API calls, so the dashboard refuses what the API refuses, with the API's messages.
"""

from __future__ import annotations

import json
from typing import Any

from marshmallow import Schema, ValidationError
from werkzeug.datastructures import MultiDict

from api.errors import _describe
from core.errors import Invalid

SCHEDULE_FIELDS = ("mode", "every_minutes", "times", "more")


def load(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """`schema.load(data)`, its errors raised as Invalid with the API's message."""
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        raise Invalid(
            "invalid input: " + "; ".join(_describe(exc.messages)), errors={"body": exc.messages}
        ) from None
    return loaded


def json_value(text: str, *, field: str, default: Any) -> Any:
    """A form field holding JSON; empty means `default`."""
    if not text.strip():
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Invalid(
            f"{field} must be JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            errors={field: ["not JSON"]},
        ) from None


def json_object(text: str, *, field: str) -> dict[str, Any]:
    value = json_value(text, field=field, default={})
    if not isinstance(value, dict):
        raise Invalid(f"{field} must be a JSON object ({{...}})", errors={field: ["not an object"]})
    return value


def schedule(form: MultiDict[str, str]) -> dict[str, Any]:
    """A schedule from the form's mode, its two common settings and optional JSON for the rest
    (blackout windows, weekdays, automatic batching); validated later by `core.schedule`."""
    result: dict[str, Any] = json_object(form.get("more", ""), field="more settings")
    mode = form.get("mode", "").strip()
    if mode:
        result["mode"] = mode
    every = form.get("every_minutes", "").strip()
    if every:
        try:
            result["every_minutes"] = int(every)
        except ValueError:
            result["every_minutes"] = every  # the schedule's own check names the field
    times = [t.strip() for t in form.get("times", "").replace(";", ",").split(",") if t.strip()]
    if times:
        result["times"] = times
    return result


def schedule_fields(value: dict[str, Any]) -> dict[str, str]:
    """A stored schedule spread over the form's fields (the inverse of `schedule`)."""
    rest = {
        k: v
        for k, v in value.items()
        if k not in ("mode", "every_minutes", "times") and v not in (None, [], {})
    }
    return {
        "mode": str(value.get("mode", "")),
        "every_minutes": str(value.get("every_minutes", "")),
        "times": ", ".join(value.get("times", [])),
        "more": json.dumps(rest) if rest else "",
    }


def page_of(args: MultiDict[str, str], total: int, page_size: int) -> tuple[int, int]:
    """The `page` asked for in the query string, within 1 … the last page, and the number of
    pages: a mistyped or absurd number shows the nearest page (never an offset the database
    cannot take)."""
    pages = max(1, -(-total // page_size))
    try:
        asked = int(args.get("page", "1"))
    except ValueError:
        asked = 1
    return min(max(1, asked), pages), pages


def words(form: MultiDict[str, str], name: str) -> list[str]:
    return [w.strip() for w in form.get(name, "").replace(";", ",").split(",") if w.strip()]
