"""`/projects/{pid}/connections`: connectors configured on a project."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api import services
from api.pagination import page_of
from api.schemas import ConnectionIn, ConnectionOut, ConnectionPatch
from core import connections as connections_service
from core.projects import get_project
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
    try:
        connector = get_connector(connection["connector"])
    except UnknownConnector:
        return {**connection, "available": False}
    return {
        **connection,
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
    def delete(self, project_id: str, connection_id: str) -> None:
        """Delete a connection that no job uses."""
        connections_service.delete_connection(services.store(), _project(project_id), connection_id)
