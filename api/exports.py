"""Files written by file channels, served at stable, unguessable URLs (no API key needed,
so marketplaces can pull them).

Responses carry `ETag` and `Last-Modified` and answer conditional requests (`If-None-Match`,
`If-Modified-Since`) with 304, so a marketplace polling an unchanged feed downloads nothing;
the channel keeps the file (and so its validators) when a run produces the same bytes.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, abort, current_app, send_file
from werkzeug.wrappers import Response

from api import services
from plugins.file import content_type, export_path

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
    served_as = content_type(connection["settings"])
    response = send_file(
        path,
        mimetype=served_as,
        download_name=filename,
        max_age=0,
        conditional=True,
        etag=True,
    )
    # werkzeug appends charset=utf-8 to any text/* type; ours names the file's real encoding
    response.headers["Content-Type"] = served_as
    return response
