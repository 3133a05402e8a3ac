"""The operators' dashboard: server-rendered pages under `/dashboard`.

A person logs in with an API key (kept in Flask's signed session cookie); an admin tenant's key
is an operator who sees every tenant's projects and the farm's queues, any other key sees its
own projects. Pages call the same `core/` services as the REST API, so a form refuses exactly
what the API refuses, with the same messages. No JavaScript framework: the run page polls its
progress with a few lines of vanilla JavaScript and refreshes itself without it.
"""

from __future__ import annotations

from flask import Blueprint, Flask

blp = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/dashboard",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# The views register their routes on `blp` when imported.
from api.dashboard import (  # noqa: E402
    connections,
    overview,
    present,
    project,
    queues,
    records,
    runs,
    session,
)

__all__ = [
    "blp",
    "connections",
    "init_app",
    "overview",
    "present",
    "project",
    "queues",
    "records",
    "runs",
    "session",
]


def init_app(app: Flask) -> None:
    """Register the dashboard and give the app the key that signs its session cookie."""
    session.configure_secret_key(app)
    app.register_blueprint(blp)
