"""The application factory of the web process."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify

from api import (
    auth,
    changes,
    connections,
    dashboard,
    events,
    exports,
    jobs,
    metrics,
    orders,
    projects,
    records,
    runs,
    stats,
)
from api.errors import SyncfarmApi, register_error_handlers
from core.config import load_settings
from core.store import Store
from worker.broker import build_broker, quick_redis_client

API_TITLE = "syncfarm"
API_VERSION = "v1"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app. `test_config` may carry `SYNCFARM_STORE`, `SYNCFARM_BROKER` and
    `SYNCFARM_REDIS` (None disables ticker wake-ups) to replace the real clients."""
    app = Flask(__name__)
    app.config.update(
        API_TITLE=API_TITLE,
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    config = test_config or {}
    app.config.update({k: v for k, v in config.items() if not k.startswith("SYNCFARM_")})
    settings = config.get("SYNCFARM_SETTINGS") or load_settings()
    store = config.get("SYNCFARM_STORE") or Store.connect(
        settings.mongo_url,
        settings.mongo_db_name,
        timeout_ms=int(settings.web_db_timeout_s * 1000),  # a request answers 503 this soon
    )
    app.extensions["syncfarm.settings"] = settings
    app.extensions["syncfarm.store"] = store
    # Short timeouts: with Redis down or hung, a page or a scrape answers within seconds.
    quick_s = settings.web_redis_timeout_s
    app.extensions["syncfarm.broker"] = config.get("SYNCFARM_BROKER") or build_broker(
        settings, timeout_s=quick_s
    )
    app.extensions["syncfarm.redis"] = (
        config["SYNCFARM_REDIS"]
        if "SYNCFARM_REDIS" in config
        else quick_redis_client(settings.redis_url, quick_s)
    )

    api = SyncfarmApi(app)
    for module in (projects, connections, jobs, runs, records, orders, changes, stats, events):
        api.register_blueprint(module.blp)
    app.register_blueprint(exports.blp)
    metrics.init_app(app)
    dashboard.init_app(app)
    register_error_handlers(app)
    app.before_request(auth.require_api_key)

    @app.get("/")
    def home() -> Any:
        return jsonify(
            name="syncfarm",
            api="/api/v1",
            openapi="/api/v1/openapi.json",
            docs="/api/v1/docs",
        )

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    if not config.get("TESTING"):
        try:
            store.ensure_indexes()
        except Exception as exc:  # the API answers 503 until the database is back
            logging.getLogger(__name__).warning("could not create indexes: %s", exc)
    return app
