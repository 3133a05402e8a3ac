"""`file`: a channel writing the project's records as a CSV file that `web` serves.

The file is written under `SYNCFARM_DATA_DIR/exports/<project>/<connection>.csv`, replaced
atomically (write then rename), so a marketplace pulling it never sees half a file.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from marshmallow import Schema, fields, validate

from plugins.base import Connector, ConnectorContext, Record


class FileSettings(Schema):
    filename = fields.String(
        load_default="export.csv",
        validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"),
        metadata={"description": "the file name in the export URL"},
    )
    columns = fields.List(
        fields.String(),
        load_default=None,
        allow_none=True,
        metadata={"description": "columns in order; default: every field seen, key first"},
    )
    delimiter = fields.String(
        load_default=",",
        validate=[
            validate.Length(equal=1),
            validate.NoneOf(["\n", "\r", '"', "\x00"], error="{input!r} cannot be a delimiter"),
        ],
    )


def export_path(data_dir: Path, project_id: str, connection_id: str) -> Path:
    return data_dir / "exports" / project_id / f"{connection_id}.csv"


class FileConnector(Connector):
    name = "file"
    settings_schema = FileSettings
    roles = frozenset({"channel"})
    channel_kind = "file"

    @classmethod
    def example_settings(cls, workdir: Path) -> dict[str, Any]:
        return {"filename": "example.csv"}

    def __init__(self, settings: dict[str, Any], context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.path = export_path(context.data_dir, context.project_id, context.connection_id)

    def write(self, records: Iterable[Record]) -> dict[str, int]:
        rows = list(records) if self.settings.get("columns") is None else records
        columns: list[str] = self.settings.get("columns") or _columns(rows)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".export-", suffix=".tmp")
        written = 0
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
                writer = csv.DictWriter(
                    out,
                    fieldnames=columns,
                    delimiter=self.settings["delimiter"],
                    extrasaction="ignore",
                )
                writer.writeheader()
                for row in rows:
                    writer.writerow(row)
                    written += 1
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return {"written": written}

    @classmethod
    def public_urls(cls, connection: dict[str, Any], base_url: str) -> dict[str, str]:
        filename = connection["settings"].get("filename", "export.csv")
        token = connection["export_token"]
        return {"export_url": f"{base_url}/exports/{connection['_id']}/{token}/{filename}"}


def _columns(rows: Iterable[Record]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for name in row:
            seen.setdefault(name, None)
    return list(seen)
