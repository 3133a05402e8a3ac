"""Bearer API keys: `Authorization: Bearer <key>` on every `/api/v1` call."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_smorest import abort

from api import services
from core.tenants import tenant_for_key

PUBLIC_ENDPOINTS = {
    "api-docs.openapi_json",
    "api-docs.openapi_swagger_ui",
    "static",
    "events.receive",  # signed with the connection's webhook secret instead (api/events.py)
}


def require_api_key() -> Any:
    if request.endpoint in PUBLIC_ENDPOINTS or not request.path.startswith("/api/v1/"):
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        abort(
            401,
            message="missing API key: send `Authorization: Bearer <key>` "
            "(create one with `syncfarm tenant create NAME`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    tenant = tenant_for_key(services.store(), key.strip())
    if tenant is None:
        abort(401, message="unknown API key", headers={"WWW-Authenticate": "Bearer"})
    g.tenant = tenant
    return None
