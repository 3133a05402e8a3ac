"""Identifiers: short, URL-safe, prefixed with the kind of object they name."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"
