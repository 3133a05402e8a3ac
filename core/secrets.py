"""Connector secrets, encrypted at rest and masked on the way out.

A settings field whose marshmallow metadata says `secret: True` (at any depth of nested
schemas) is stored as `enc:v1:<Fernet token>`, with a key derived from `SYNCFARM_SECRET_KEY`;
the API shows it as `********`, and a `********` sent back on a change keeps the stored value.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from marshmallow import Schema, fields

from core.errors import ConfigError, Conflict, Invalid

PREFIX = "enc:v1:"
MASK = "********"

Path = tuple[str, ...]


class SecretBox:
    """Seals and opens secret values. Any passphrase of 16 characters or more will do as the
    key; it is stretched with SHA-256 into a Fernet key."""

    def __init__(self, key: str | None) -> None:
        self._fernet = None
        if key:
            if len(key) < 16:
                raise ConfigError("SYNCFARM_SECRET_KEY must be at least 16 characters long")
            digest = hashlib.sha256(key.encode()).digest()
            self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, value: str, *, where: str) -> str:
        if value.startswith(PREFIX):
            return value
        if self._fernet is None:
            raise Invalid(
                f"{where} is a secret, and secrets are stored encrypted: the farm's operator "
                "must set SYNCFARM_SECRET_KEY first",
                errors={where: ["SYNCFARM_SECRET_KEY is not set"]},
            )
        return PREFIX + self._fernet.encrypt(value.encode()).decode()

    def open(self, value: str) -> str:
        if not value.startswith(PREFIX):
            return value
        if self._fernet is None:
            raise ConfigError("stored secrets need SYNCFARM_SECRET_KEY to be read")
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise ConfigError(
                "a stored secret cannot be read with this SYNCFARM_SECRET_KEY (was it changed?)"
            ) from None


def secret_paths(schema: Schema, prefix: Path = ()) -> Iterator[Path]:
    for name, field in schema.fields.items():
        key = field.data_key or name
        if field.metadata.get("secret"):
            yield (*prefix, key)
        elif isinstance(field, fields.Nested) and isinstance(field.schema, Schema):
            yield from secret_paths(field.schema, (*prefix, key))


def _map(settings: dict[str, Any], paths: list[Path], change: Any) -> dict[str, Any]:
    """A copy of `settings` with `change(value, path)` applied to each secret present."""
    result: dict[str, Any] = dict(settings)
    for path in paths:
        parent = result
        for part in path[:-1]:
            child = parent.get(part)
            if not isinstance(child, dict):
                break
            parent[part] = dict(child)
            parent = parent[part]
        else:
            value = parent.get(path[-1])
            if isinstance(value, str):
                parent[path[-1]] = change(value, path)
    return result


def seal_settings(schema: Schema, settings: dict[str, Any], box: SecretBox) -> dict[str, Any]:
    return _map(
        settings,
        list(secret_paths(schema)),
        lambda v, p: box.seal(v, where="settings." + ".".join(p)),
    )


def open_settings(schema: Schema, settings: dict[str, Any], box: SecretBox) -> dict[str, Any]:
    return _map(settings, list(secret_paths(schema)), lambda v, p: box.open(v))


def mask_settings(schema: Schema, settings: dict[str, Any]) -> dict[str, Any]:
    return _map(settings, list(secret_paths(schema)), lambda v, p: MASK)


def keep_masked(
    schema: Schema, incoming: dict[str, Any], stored: dict[str, Any], box: SecretBox
) -> dict[str, Any]:
    """Settings sent back with `********` for a secret keep the stored secret (only those are
    decrypted; one that cannot be read any more must be sent again in clear)."""

    def restore(value: str, path: Path) -> str:
        if value != MASK:
            return value
        found: Any = stored
        for part in path:
            found = found.get(part) if isinstance(found, dict) else None
        if not isinstance(found, str):
            return value
        try:
            return box.open(found)
        except ConfigError:
            where = "settings." + ".".join(path)
            raise Conflict(
                f"the stored {where} cannot be read with this SYNCFARM_SECRET_KEY (was it "
                "changed?); send the secret again instead of ********",
                errors={where: ["send the secret again"]},
            ) from None

    return _map(incoming, list(secret_paths(schema)), restore)
