"""Connections: a configured connector on a project, with settings its own schema validated."""

from __future__ import annotations

import secrets
from typing import Any

from marshmallow import ValidationError

from core.channel_settings import validate_channel_settings
from core.clock import now_ms
from core.config import load_settings
from core.errors import Invalid, NotFound
from core.ids import new_id
from core.rules import validate_rules
from core.secrets import SecretBox, keep_masked, mask_settings, open_settings, seal_settings
from core.store import Store
from core.versions import versioned
from plugins.registry import get_connector

CHANNEL_ROLE = "channel"


def get_connection(store: Store, project: dict[str, Any], connection_id: str) -> dict[str, Any]:
    connection: dict[str, Any] | None = store.connections.find_one({"_id": connection_id})
    if connection is None or connection["project_id"] != project["_id"]:
        raise NotFound(f"connection {connection_id!r} not found in project {project['_id']!r}")
    return connection


def validate_settings(connector_name: str, role: str, settings: Any) -> dict[str, Any]:
    """Settings as the connector's schema loads them; 422 naming each bad field otherwise."""
    connector = get_connector(connector_name)
    if role not in connector.roles:
        raise Invalid(
            f"connector {connector_name!r} cannot be a {role}; it can be: "
            f"{', '.join(sorted(connector.roles))}",
            errors={"role": [f"must be one of {', '.join(sorted(connector.roles))}"]},
        )
    try:
        loaded: dict[str, Any] = connector.settings_schema().load(settings or {})
    except ValidationError as exc:
        fields = "; ".join(
            f"settings.{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in _flat(exc.messages).items()
        )
        raise Invalid(
            f"invalid settings for connector {connector_name!r}: {fields}",
            errors={"settings": exc.messages},
        ) from None
    return loaded


def secret_box() -> SecretBox:
    return SecretBox(load_settings().secret_key)


def _sealed(connector_name: str, settings: dict[str, Any]) -> dict[str, Any]:
    schema = get_connector(connector_name).settings_schema()
    return seal_settings(schema, settings, secret_box())


def readable_settings(connection: dict[str, Any]) -> dict[str, Any]:
    """The connection's settings with its secrets decrypted, for the connector to use."""
    schema = get_connector(connection["connector"]).settings_schema()
    return open_settings(schema, connection["settings"], secret_box())


def shown_settings(connection: dict[str, Any]) -> dict[str, Any]:
    """The connection's settings as the API shows them: secrets masked."""
    schema = get_connector(connection["connector"]).settings_schema()
    return mask_settings(schema, connection["settings"])


def _flat(messages: Any) -> dict[str, Any]:
    return messages if isinstance(messages, dict) else {"_schema": messages}


def create_connection(
    store: Store, project: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    if data["role"] == "source" and store.connections.find_one(
        {"project_id": project["_id"], "role": "source"}
    ):
        raise Invalid(
            "the project already has its primary source; add this one with role `secondary` "
            "(joined by key, its fields win) or `combined` (adds records and missing fields)",
            errors={"role": ["a project has one source"]},
        )
    now = now_ms()
    connection = {
        "_id": new_id("con"),
        "tenant_id": project["tenant_id"],
        "project_id": project["_id"],
        "name": data.get("name") or data["connector"],
        "connector": data["connector"],
        "role": data["role"],
        "settings": _sealed(
            data["connector"],
            validate_settings(data["connector"], data["role"], data.get("settings")),
        ),
        "order": data.get("order", 0),
        "paused": bool(data.get("paused", False)),
        "read_only_fields": data.get("read_only_fields", []),
        "auto_absorb": bool(data.get("auto_absorb", True)),
        "real_deletes": bool(data.get("real_deletes", False)),
        "max_identical_failures": data.get("max_identical_failures", 5),
        "rules": validate_rules(data.get("rules", []), path="rules"),
        **CHANNEL_SETTING_DEFAULTS,
        **validate_channel_settings(_channel_settings_of(data)),
        "category_field": data.get("category_field"),
        "cursor": None,
        "export_token": secrets.token_urlsafe(18),
        "webhook_secret": new_webhook_secret(),
        "created_at": now,
        "updated_at": now,
        **versioned("connections"),
    }
    store.connections.insert_one(connection)
    return connection


CHANNEL_SETTING_DEFAULTS: dict[str, Any] = {"currency": None, "price_margin": None, "defaults": {}}


def _channel_settings_of(data: dict[str, Any]) -> dict[str, Any]:
    """The channel settings (`core.channel_settings`) among the given fields."""
    return {k: data[k] for k in CHANNEL_SETTING_DEFAULTS if k in data}


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


def ensure_webhook_secret(store: Store, connection: dict[str, Any]) -> str:
    """The connection's webhook secret; a connection made before webhooks gets one now (one
    compare-and-set, so concurrent first uses agree on the same secret)."""
    if connection.get("webhook_secret"):
        return str(connection["webhook_secret"])
    store.connections.update_one(
        {"_id": connection["_id"], "webhook_secret": None},
        {"$set": {"webhook_secret": new_webhook_secret()}},
    )
    stored = store.connections.find_one({"_id": connection["_id"]}) or {}
    connection["webhook_secret"] = stored.get("webhook_secret")
    return str(connection["webhook_secret"])


def update_connection(
    store: Store, project: dict[str, Any], connection_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    connection = get_connection(store, project, connection_id)
    fields = {k: v for k, v in changes.items() if k not in ("settings", "connector", "role")}
    if "rules" in changes:
        fields["rules"] = validate_rules(changes["rules"], path="rules")
    fields.update(validate_channel_settings(_channel_settings_of(changes)))
    if "settings" in changes:
        schema = get_connector(connection["connector"]).settings_schema()
        incoming = keep_masked(
            schema, changes["settings"] or {}, connection["settings"], secret_box()
        )
        fields["settings"] = _sealed(
            connection["connector"],
            validate_settings(connection["connector"], connection["role"], incoming),
        )
    fields["updated_at"] = now_ms()
    store.connections.update_one({"_id": connection_id}, {"$set": fields})
    connection.update(fields)
    return connection


def delete_connection(store: Store, project: dict[str, Any], connection_id: str) -> None:
    get_connection(store, project, connection_id)
    if store.jobs.find_one({"project_id": project["_id"], "connection_id": connection_id}):
        raise Invalid(
            f"connection {connection_id!r} is used by a job; delete or change that job first"
        )
    store.connections.delete_one({"_id": connection_id})


def reset_clocks(store: Store, project: dict[str, Any], connection_id: str) -> dict[str, Any]:
    """Forget the connection's incremental cursor and make the project's next fetch a full
    rescan: every record's changes are recomputed for every channel."""
    connection = get_connection(store, project, connection_id)
    store.connections.update_one(
        {"_id": connection_id}, {"$set": {"cursor": None, "rules_fingerprint": None}}
    )
    store.projects.update_one({"_id": project["_id"]}, {"$set": {"full_rescan": True}})
    return {**connection, "cursor": None}


def project_connections(store: Store, project_id: str) -> list[dict[str, Any]]:
    """The project's connections, channels in their configured order."""
    connections = list(store.connections.find({"project_id": project_id}))
    return sorted(connections, key=lambda c: (c.get("order", 0), c["created_at"]))
