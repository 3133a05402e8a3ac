"""Files written by file channels, served at stable, unguessable URLs (no API key needed,
so marketplaces can pull them)."""

from __future__ import annotations

import hmac

from flask import Blueprint, abort, current_app, send_file
from werkzeug.wrappers import Response

from api import services
from plugins.file import export_path

blp = Blueprint("exports", __name__, url_prefix="/exports")


@blp.route("/<connection_id>/<token>/<filename>")
def export_file(connection_id: str, token: str, filename: str) -> Response:
    connection = services.store().connections.find_one({"_id": connection_id})
    if connection is None or not hmac.compare_digest(
        str(connection.get("export_token", "")), token
    ):
        abort(404, description="no such export")
    if connection["settings"].get("filename", "export.csv") != filename:
        abort(404, description="no such export")
    path = export_path(services.settings().data_dir, connection["project_id"], connection_id)
    if not path.exists():
        abort(404, description="this channel has not exported a file yet; run its job first")
    current_app.logger.debug("serving export %s", path)
    return send_file(path, mimetype="text/csv", download_name=filename, max_age=0)
