"""Tenants and their API keys. Keys are shown once and stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from core.clock import now_ms
from core.ids import new_id
from core.plans import DEFAULT_PLAN, get_plan
from core.store import Store
from core.versions import versioned

KEY_PREFIX = "sfk_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_tenant(
    store: Store, name: str, *, plan: str = DEFAULT_PLAN, admin: bool = False
) -> tuple[dict[str, Any], str]:
    """Create a tenant and its first API key; returns the tenant and the key in clear."""
    get_plan(plan)
    if not name.strip():
        raise ValueError("a tenant needs a name")
    tenant = {
        "_id": new_id("ten"),
        "name": name.strip(),
        "plan": plan,
        "admin": admin,
        "created_at": now_ms(),
        **versioned("tenants"),
    }
    store.tenants.insert_one(tenant)
    return tenant, add_api_key(store, str(tenant["_id"]))


def add_api_key(store: Store, tenant_id: str) -> str:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    store.api_keys.insert_one(
        {
            "_id": hash_key(key),
            "tenant_id": tenant_id,
            "created_at": now_ms(),
            **versioned("api_keys"),
        }
    )
    return key


def tenant_for_key(store: Store, key: str) -> dict[str, Any] | None:
    """The tenant owning `key`, or None; one `_id` lookup per collection."""
    return tenant_for_key_hash(store, hash_key(key))


def tenant_for_key_hash(store: Store, digest: str) -> dict[str, Any] | None:
    """The tenant owning the key whose `hash_key` is `digest`, or None (what a session keeps
    instead of the key itself)."""
    entry = store.api_keys.find_one({"_id": digest})
    if entry is None:
        return None
    tenant: dict[str, Any] | None = store.tenants.find_one({"_id": entry["tenant_id"]})
    return tenant
