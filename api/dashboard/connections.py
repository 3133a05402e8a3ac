"""A project's connections: adding one, its buttons (fetch, send, sync, pause/play, reset
clocks) and its settings page."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from api import services
from api.dashboard import blp, forms, scope
from api.dashboard.project import render_project
from api.schemas import ConnectionIn, ConnectionPatch
from core import connections as connections_service
from core import jobs as jobs_service
from core import runs as runs_service
from core.errors import Invalid
from core.models import Trigger
from plugins.registry import UnknownConnector


def _back(project_id: str) -> Response:
    return redirect(url_for("dashboard.project_page", project_id=project_id) + "#connections")


@blp.route("/projects/<project_id>/connections", methods=["POST"])
def add_connection(project_id: str) -> Any:
    project = scope.project(project_id)
    form = request.form
    sent = {name: form.get(name, "") for name in ("name", "connector", "role", "settings")}
    try:
        data: dict[str, Any] = {
            "connector": form.get("connector", ""),
            "role": form.get("role", ""),
            "settings": forms.json_object(form.get("settings", ""), field="settings"),
        }
        if form.get("name", "").strip():
            data["name"] = form["name"].strip()
        connections_service.create_connection(
            services.store(), project, forms.load(ConnectionIn(), data)
        )
    except Invalid as exc:
        return render_project(
            project,
            errors={"new_connection": exc.message},
            forms_sent={"new_connection": sent},
            status=422,
        )
    return _back(project_id)


def _press(project_id: str, connection_id: str, kind: str) -> Response:
    """The API's connection buttons: queue a manual run of the connection's job."""
    project = scope.project(project_id)
    connection = connections_service.get_connection(services.store(), project, connection_id)
    if kind == "fetch" and connection["role"] == "channel":
        raise Invalid("fetch reads sources; this connection is a channel: use send or sync")
    if kind == "send" and connection["role"] != "channel":
        raise Invalid("send writes to channels; this connection is a source: use fetch")
    job = jobs_service.connection_job(services.store(), project, connection, kind)
    run = runs_service.claim_run(services.store(), job, Trigger.MANUAL)
    assert run is not None  # manual claims raise Conflict instead of coalescing
    services.submit_run(run)
    return redirect(url_for("dashboard.run_page", run_id=run["_id"]))


@blp.route(
    "/projects/<project_id>/connections/<connection_id>/<any(fetch,send,sync):kind>",
    methods=["POST"],
)
def press(project_id: str, connection_id: str, kind: str) -> Response:
    return _press(project_id, connection_id, kind)


@blp.route("/projects/<project_id>/connections/<connection_id>/reset-clocks", methods=["POST"])
def reset_clocks(project_id: str, connection_id: str) -> Response:
    project = scope.project(project_id)
    connections_service.reset_clocks(services.store(), project, connection_id)
    flash("Clocks reset: the next fetch is a full rescan.")
    return _back(project_id)


@blp.route(
    "/projects/<project_id>/connections/<connection_id>/<any(pause,play):action>",
    methods=["POST"],
)
def pause_connection(project_id: str, connection_id: str, action: str) -> Response:
    project = scope.project(project_id)
    connections_service.update_connection(
        services.store(), project, connection_id, {"paused": action == "pause"}
    )
    return _back(project_id)


def _shown(connection: dict[str, Any]) -> dict[str, Any]:
    try:
        return connections_service.shown_settings(connection)
    except UnknownConnector:
        return {}


def _channel_form(connection: dict[str, Any]) -> dict[str, str]:
    """A channel's currency, price margin, defaults and category field as form text."""
    if connection["role"] != "channel":
        return {}
    margin, defaults = connection.get("price_margin"), connection.get("defaults")
    return {
        "currency": connection.get("currency") or "",
        "price_margin": json.dumps(margin) if margin else "",
        "defaults": json.dumps(defaults, indent=2) if defaults else "",
        "category_field": connection.get("category_field") or "",
    }


def _channel_changes(form: dict[str, str]) -> dict[str, Any]:
    """The channel settings from the form; an empty field clears the setting."""
    margin, defaults = form["price_margin"].strip(), form["defaults"].strip()
    return {
        "currency": form["currency"].strip().upper() or None,
        "price_margin": forms.json_object(margin, field="price_margin") if margin else None,
        "defaults": forms.json_object(defaults, field="defaults") if defaults else None,
        "category_field": form["category_field"].strip() or None,
    }


@blp.route("/projects/<project_id>/connections/<connection_id>", methods=["GET", "POST"])
def connection_page(project_id: str, connection_id: str) -> Any:
    project = scope.project(project_id)
    connection = connections_service.get_connection(services.store(), project, connection_id)
    form = {
        "name": connection.get("name", ""),
        "settings": json.dumps(_shown(connection), indent=2),
        "order": str(connection.get("order", 0)),
        "read_only_fields": ", ".join(connection.get("read_only_fields") or []),
        "auto_absorb": "on" if connection.get("auto_absorb", True) else "",
        **_channel_form(connection),
    }
    error = None
    if request.method == "POST":
        form = {name: request.form.get(name, "") for name in form}
        try:
            changes = {
                "name": form["name"].strip(),
                "settings": forms.json_object(form["settings"], field="settings"),
                "order": form["order"].strip() or 0,
                "read_only_fields": forms.words(request.form, "read_only_fields"),
                "auto_absorb": bool(form["auto_absorb"]),
            }
            if connection["role"] == "channel":
                changes.update(_channel_changes(form))
            connections_service.update_connection(
                services.store(), project, connection_id, forms.load(ConnectionPatch(), changes)
            )
        except Invalid as exc:
            error = exc.message
        else:
            flash("Connection saved.")
            return redirect(request.path)
    page = render_template(
        "connection.html", project=project, connection=connection, form=form, error=error
    )
    return page, 422 if error else 200
