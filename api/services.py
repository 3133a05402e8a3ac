"""Per-app resources (store, broker, Redis), created in the app factory after any fork."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
import redis
from flask import current_app, g, request

from core.config import Settings
from core.store import Store
from cron.wake import wake_ticker
from worker.enqueue import submit_run as _submit_run

log = logging.getLogger(__name__)


def settings() -> Settings:
    value: Settings = current_app.extensions["syncfarm.settings"]
    return value


def store() -> Store:
    value: Store = current_app.extensions["syncfarm.store"]
    return value


def broker() -> dramatiq.Broker:
    value: dramatiq.Broker = current_app.extensions["syncfarm.broker"]
    return value


def tenant() -> dict[str, Any]:
    value: dict[str, Any] = g.tenant
    return value


def submit_run(run: dict[str, Any]) -> None:
    _submit_run(store(), broker(), run)


def schedules_changed() -> None:
    """Wake the ticker so a new or changed schedule takes effect at once (it also polls)."""
    client: redis.Redis | None = current_app.extensions.get("syncfarm.redis")
    if client is None:
        return
    try:
        wake_ticker(client)
    except redis.RedisError as exc:
        log.warning("could not wake the ticker (it will notice within its poll): %s", exc)


def base_url() -> str:
    return settings().public_url or request.host_url.rstrip("/")
