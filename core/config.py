"""Configuration, read from the environment in this one place.

Every variable is documented in the README's "Configuration" section.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigError

DEFAULT_MONGO_URL = "mongodb://127.0.0.1:27017/syncfarm"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _non_negative(name: str, default: float) -> float:
    value = _float(name, default)
    if value < 0:
        raise ConfigError(f"{name} must be 0 or more, got {value:g}")
    return value


def _positive(name: str, default: float) -> float:
    value = _float(name, default)
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0, got {value:g}")
    return value


@dataclass(frozen=True)
class Settings:
    mongo_url: str = DEFAULT_MONGO_URL
    redis_url: str = DEFAULT_REDIS_URL
    broker_url: str = DEFAULT_REDIS_URL
    data_dir: Path = field(default_factory=lambda: Path("var/data"))
    public_url: str | None = None
    lock_ttl_s: float = 30.0
    worker_heartbeat_timeout_s: float = 60.0
    broker_maintenance_chance: int = 1000
    run_time_limit_s: int = 6 * 3600
    ticker_lease_s: float = 5.0
    ticker_poll_s: float = 5.0
    resend_after_s: float = 600.0
    web_db_timeout_s: float = 2.0
    http_timeout_s: float = 60.0
    smtp_url: str | None = None
    secret_key: str | None = None
    #: SYNCFARM_ALLOW_PRIVATE_URLS as given; `core.netguard` parses it
    allow_private_urls: str = ""
    #: retention (core/retention.py); 0 keeps forever
    event_retention_days: float = 7.0
    run_retention_days: float = 30.0
    retention_interval_s: float = 600.0
    #: a change `sending` this long without a result fails (core/expiry.py); 0: never
    sending_expiry_s: float = 6 * 3600
    #: when set, `/metrics` asks for `Authorization: Bearer <token>`
    metrics_token: str | None = None
    #: connect/read timeout of the web process's Redis clients (metrics, dashboard, enqueue)
    web_redis_timeout_s: float = 0.5

    @property
    def mongo_db_name(self) -> str:
        tail = self.mongo_url.rsplit("/", 1)[-1].split("?", 1)[0]
        return tail or "syncfarm"


def load_settings() -> Settings:
    """Read the SYNCFARM_* environment variables; unset ones take their documented defaults."""
    redis_url = os.environ.get("SYNCFARM_REDIS_URL") or DEFAULT_REDIS_URL
    public_url = os.environ.get("SYNCFARM_PUBLIC_URL") or None
    return Settings(
        mongo_url=os.environ.get("SYNCFARM_MONGO_URL") or DEFAULT_MONGO_URL,
        redis_url=redis_url,
        broker_url=os.environ.get("SYNCFARM_BROKER_URL") or redis_url,
        data_dir=Path(os.environ.get("SYNCFARM_DATA_DIR") or "var/data").resolve(),
        public_url=public_url.rstrip("/") if public_url else None,
        lock_ttl_s=_float("SYNCFARM_LOCK_TTL_S", 30.0),
        worker_heartbeat_timeout_s=_float("SYNCFARM_WORKER_HEARTBEAT_TIMEOUT_S", 60.0),
        broker_maintenance_chance=_int("SYNCFARM_BROKER_MAINTENANCE_CHANCE", 1000),
        run_time_limit_s=_int("SYNCFARM_RUN_TIME_LIMIT_S", 6 * 3600),
        ticker_lease_s=_float("SYNCFARM_TICKER_LEASE_S", 5.0),
        ticker_poll_s=_float("SYNCFARM_TICKER_POLL_S", 5.0),
        resend_after_s=_float("SYNCFARM_RESEND_AFTER_S", 600.0),
        web_db_timeout_s=_float("SYNCFARM_WEB_DB_TIMEOUT_S", 2.0),
        http_timeout_s=_float("SYNCFARM_HTTP_TIMEOUT_S", 60.0),
        smtp_url=os.environ.get("SYNCFARM_SMTP_URL") or None,
        secret_key=os.environ.get("SYNCFARM_SECRET_KEY") or None,
        allow_private_urls=os.environ.get("SYNCFARM_ALLOW_PRIVATE_URLS", "").strip(),
        event_retention_days=_non_negative("SYNCFARM_EVENT_RETENTION_DAYS", 7.0),
        run_retention_days=_non_negative("SYNCFARM_RUN_RETENTION_DAYS", 30.0),
        retention_interval_s=_non_negative("SYNCFARM_RETENTION_INTERVAL_S", 600.0),
        sending_expiry_s=_non_negative("SYNCFARM_SENDING_EXPIRY_S", 6 * 3600),
        metrics_token=os.environ.get("SYNCFARM_METRICS_TOKEN") or None,
        web_redis_timeout_s=_positive("SYNCFARM_WEB_REDIS_TIMEOUT_S", 0.5),
    )
