"""How a feed's server is authenticated: the `auth` setting and what it adds to a request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

AUTH_TYPES = ("basic", "bearer", "header", "query")
_REQUIRED = {
    "basic": ("username", "password"),
    "bearer": ("token",),
    "header": ("name", "value"),
    "query": ("name", "value"),
}


class AuthSettings(Schema):
    """`{"type": "basic", "username", "password"}`, `{"type": "bearer", "token"}`,
    `{"type": "header", "name", "value"}` (e.g. X-Api-Key) or `{"type": "query", "name",
    "value"}` (a URL query parameter, e.g. ?key=…)."""

    type = fields.String(required=True, validate=validate.OneOf(AUTH_TYPES))
    username = fields.String()
    password = fields.String(metadata={"secret": True})
    token = fields.String(metadata={"secret": True})
    name = fields.String(validate=validate.Length(min=1))
    value = fields.String(metadata={"secret": True})

    @validates_schema
    def _check_fields(self, data: dict[str, Any], **_: Any) -> None:
        missing = [f for f in _REQUIRED.get(data.get("type", ""), ()) if f not in data]
        if missing:
            raise ValidationError(
                {name: [f"required for auth type {data['type']!r}"] for name in missing}
            )


@dataclass
class RequestAuth:
    """What the `auth` setting adds to a request."""

    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    basic: tuple[str, str] | None = None


def request_auth(auth: dict[str, Any] | None) -> RequestAuth:
    kind = (auth or {}).get("type")
    if auth is None or kind is None:
        return RequestAuth()
    if kind == "basic":
        return RequestAuth(basic=(auth["username"], auth["password"]))
    if kind == "bearer":
        return RequestAuth(headers={"Authorization": f"Bearer {auth['token']}"})
    if kind == "header":
        return RequestAuth(headers={auth["name"]: auth["value"]})
    if kind == "query":
        return RequestAuth(params={auth["name"]: auth["value"]})
    raise ValueError(f"unknown auth type {kind!r}")
