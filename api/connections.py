"""`/projects/{pid}/connections`: connectors configured on a project."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from api import services
from api.events import webhook_url
from api.pagination import page_of
from api.schemas import ConnectionIn, ConnectionOut, ConnectionPatch, RunOut
from core import connections as connections_service
from core import jobs as jobs_service
from core import runs as runs_service
from core.models import Trigger
from core.pipeline.rawindex import index_path, raw_index_dir
from core.projects import get_project
from plugins.file import export_path, rows_path
from plugins.registry import UnknownConnector, get_connector

blp = Blueprint(
    "connections",
    __name__,
    url_prefix="/api/v1/projects/<project_id>/connections",
    description="Connections",
)


def _project(project_id: str) -> dict[str, Any]:
    return get_project(services.store(), services.tenant()["_id"], project_id)


def present(connection: dict[str, Any]) -> dict[str, Any]:
    secret = connections_service.ensure_webhook_secret(services.store(), connection)
    shown = {**connection, "webhook_url": webhook_url(connection), "webhook_secret": secret}
    try:
        connector = get_connector(connection["connector"])
    except UnknownConnector:
        return {**shown, "available": False}
    return {
        **shown,
        "settings": connections_service.shown_settings(connection),
        "available": True,
        **connector.public_urls(connection, services.base_url()),
    }


@blp.route("/")
class Connections(MethodView):
    @blp.response(200, ConnectionOut(many=True))
    @blp.paginate()
    def get(self, project_id: str, pagination_parameters: Any) -> list[dict[str, Any]]:
        """List a project's connections."""
        project = _project(project_id)
        rows = page_of(
            services.store().connections,
            {"project_id": project["_id"]},
            pagination_parameters,
            [("order", 1), ("_id", 1)],
        )
        return [present(c) for c in rows]

    @blp.arguments(ConnectionIn)
    @blp.response(201, ConnectionOut)
    def post(self, data: dict[str, Any], project_id: str) -> dict[str, Any]:
        """Add a connection; its settings are validated by the connector's own schema."""
        connection = connections_service.create_connection(
            services.store(), _project(project_id), data
        )
        return present(connection)


@blp.route("/<connection_id>")
class ConnectionItem(MethodView):
    @blp.response(200, ConnectionOut)
    def get(self, project_id: str, connection_id: str) -> dict[str, Any]:
        """A connection."""
        return present(
            connections_service.get_connection(
                services.store(), _project(project_id), connection_id
            )
        )

    @blp.arguments(ConnectionPatch)
    @blp.response(200, ConnectionOut)
    def patch(self, changes: dict[str, Any], project_id: str, connection_id: str) -> dict[str, Any]:
        """Change a connection."""
        connection = connections_service.update_connection(
            services.store(), _project(project_id), connection_id, changes
        )
        return present(connection)

    @blp.response(204)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def delete(self, project_id: str, connection_id: str) -> None:
        """Delete a connection that no job uses, with its exported file, its kept renderings
        and its raw index."""
        connections_service.delete_connection(services.store(), _project(project_id), connection_id)
        data_dir = services.settings().data_dir
        export = export_path(data_dir, project_id, connection_id)
        raw_index = index_path(raw_index_dir(data_dir, project_id), connection_id)
        for path in (export, rows_path(export), raw_index):
            path.unlink(missing_ok=True)


def _press(project_id: str, connection_id: str, kind: str) -> dict[str, Any]:
    project = _project(project_id)
    connection = connections_service.get_connection(services.store(), project, connection_id)
    if kind == "fetch" and connection["role"] == "channel":
        abort(422, message="fetch reads sources; this connection is a channel: use send or sync")
    if kind == "send" and connection["role"] != "channel":
        abort(422, message="send writes to channels; this connection is a source: use fetch")
    job = jobs_service.connection_job(services.store(), project, connection, kind)
    run = runs_service.claim_run(services.store(), job, Trigger.MANUAL)
    assert run is not None
    services.submit_run(run)
    return run


@blp.route("/<connection_id>/fetch", methods=["POST"])
@blp.response(202, RunOut)
@blp.alt_response(409, response="CONFLICT")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def fetch(project_id: str, connection_id: str) -> dict[str, Any]:
    """Import now: the project's sources into its database, and the changes that follow."""
    return _press(project_id, connection_id, "fetch")


@blp.route("/<connection_id>/send", methods=["POST"])
@blp.response(202, RunOut)
@blp.alt_response(409, response="CONFLICT")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def send(project_id: str, connection_id: str) -> dict[str, Any]:
    """Send this channel's pending changes now (or rewrite its file)."""
    return _press(project_id, connection_id, "send")


@blp.route("/<connection_id>/sync", methods=["POST"])
@blp.response(202, RunOut)
@blp.alt_response(409, response="CONFLICT")
def sync(project_id: str, connection_id: str) -> dict[str, Any]:
    """Import, then export to this channel (or to every channel, from a source)."""
    return _press(project_id, connection_id, "sync")


@blp.route("/<connection_id>/reset-clocks", methods=["POST"])
@blp.response(200, ConnectionOut)
def reset_clocks(project_id: str, connection_id: str) -> dict[str, Any]:
    """Make the next fetch a full rescan that recomputes every channel's changes."""
    return present(
        connections_service.reset_clocks(services.store(), _project(project_id), connection_id)
    )
