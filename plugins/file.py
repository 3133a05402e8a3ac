"""`file`: a channel publishing the project's records as one file that `web` serves at the
connection's `export_url`: CSV, TXT (tab-separated), JSON, JSON Lines or XML, optionally
gzip-compressed, with the columns (and their names) the settings choose.

The file lives at `SYNCFARM_DATA_DIR/exports/<project>/<connection>.csv` whatever its format
(the path predates formats and existing exports keep being served; the name a client sees is
the `filename` setting). It is replaced atomically, so a marketplace pulling it never sees
half a file, and records stream through: memory holds one record, never the catalog.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from plugins.base import Catalog, Connector, ConnectorContext, Record
from plugins.writers import FORMATS, Writer, WriterOptions
from plugins.writers.atomic import AtomicFile
from plugins.writers.base import TEXT_ENCODINGS, Output
from plugins.writers.incremental import Layout, refresh, write_file
from plugins.writers.rendered import RenderedRows
from plugins.writers.spool import Spool
from plugins.writers.xml import is_ncname

#: what settings stored before a key existed mean; the schema's defaults are the same
DEFAULTS: dict[str, Any] = {
    "format": "csv",
    "key": "sku",
    "delimiter": ",",
    "encoding": "utf-8",
    "gzip": False,
    "root": "products",
    "item": "product",
}
PROGRESS_EVERY = 1000
GZIP_LEVEL = 6

_MappingEntry = Schema.from_dict(
    {
        "from": fields.String(required=True, validate=validate.Length(min=1)),
        "to": fields.String(required=True, validate=validate.Length(min=1)),
    },
    name="FileMappingEntry",
)


class FileSettings(Schema):
    format = fields.String(
        load_default=DEFAULTS["format"],
        validate=validate.OneOf(list(FORMATS)),
        metadata={"description": "csv, txt (tab-separated), json (an array), jsonl or xml"},
    )
    filename = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
            error="use letters, digits, '.', '_' and '-' (up to 100, a letter or digit first)",
        ),
        metadata={
            "description": "the file name in the export URL; it ends in the format's extension"
            " (plus .gz when gzip); default export.<extension>"
        },
    )
    columns = fields.List(
        fields.String(validate=validate.Length(min=1)),
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1),
        metadata={"description": "fields to export, in order; default: every field, key first"},
    )
    mapping = fields.List(
        fields.Nested(_MappingEntry),
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1),
        metadata={
            "description": 'fields to export renamed, in order: [{"from": "price", "to": '
            '"Price"}]; a record without the field gets an empty value'
        },
    )
    key = fields.String(
        load_default=DEFAULTS["key"],
        metadata={"description": "the field written first when neither columns nor mapping"},
    )
    delimiter = fields.String(
        load_default=DEFAULTS["delimiter"],
        validate=[
            validate.Length(equal=1),
            validate.NoneOf(["\n", "\r", '"', "\x00"], error="{input!r} cannot be a delimiter"),
        ],
        metadata={"description": "csv only; txt is always tab-separated"},
    )
    encoding = fields.String(
        load_default=DEFAULTS["encoding"],
        validate=validate.OneOf(TEXT_ENCODINGS),
        metadata={"description": "csv and txt; characters it cannot hold become '?'"},
    )
    gzip = fields.Boolean(
        load_default=DEFAULTS["gzip"], metadata={"description": "gzip-compress the file"}
    )
    root = fields.String(
        load_default=DEFAULTS["root"], metadata={"description": "xml: the root element"}
    )
    item = fields.String(
        load_default=DEFAULTS["item"], metadata={"description": "xml: the element per record"}
    )
    namespaces = fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.Length(min=1)),
        load_default=dict,
        metadata={"description": 'xml: prefixes for field names, e.g. {"g": "http://…"}'},
    )

    @validates_schema
    def _check_combination(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        writer = FORMATS[data["format"]]

        def refuse(name: str, message: str) -> None:
            errors.setdefault(name, []).append(message)

        if data.get("filename") is not None:
            problem = _filename_problem(data["filename"], writer, gzipped=data["gzip"])
            if problem:
                refuse("filename", problem)
        if data["encoding"] not in writer.encodings:
            refuse("encoding", f"{writer.format} files are always UTF-8; encodings are for csv/txt")
        if data["format"] == "txt" and data["delimiter"] not in (",", "\t"):
            refuse("delimiter", "txt is always tab-separated; for another delimiter use csv")
        if data.get("columns") and data.get("mapping"):
            refuse("mapping", "give either columns or mapping, not both")
        targets = _targets(data) or []
        repeated = sorted({t for t in targets if targets.count(t) > 1})
        if repeated:
            refuse("mapping" if data.get("mapping") else "columns", f"repeated: {repeated}")
        if data["format"] == "xml":
            for problem_field, message in _xml_problems(data, targets):
                refuse(problem_field, message)
        if errors:
            raise ValidationError(errors)

    @post_load
    def _fill_defaults(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("filename") is None:
            data["filename"] = "export" + _extension(FORMATS[data["format"]], data["gzip"])
        if data["format"] == "txt":
            data["delimiter"] = "\t"
        return data


def export_path(data_dir: Path, project_id: str, connection_id: str) -> Path:
    return data_dir / "exports" / project_id / f"{connection_id}.csv"


def rows_path(export: Path) -> Path:
    """Where a file channel keeps its rendered rows: beside its file, never served."""
    return export.with_name(f".{export.stem}.rows.sqlite")


def content_type(settings: Mapping[str, Any]) -> str:
    """The `Content-Type` of the file a connection with these settings publishes."""
    options = {**DEFAULTS, **settings}
    if options["gzip"]:
        return "application/gzip"
    return FORMATS[options["format"]].content_type(options["encoding"])


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

    def published(self) -> bool:
        return self.path.exists()

    def write(self, records: Iterable[Record]) -> dict[str, int]:
        """Publish `records` as the file; counts: `written` records, `unencodable` characters
        replaced, `bytes` of the file, `file_replaced` 0 when the content was unchanged."""
        layout = self._layout()
        rows = records if layout.pairs is None else map(layout.row, records)
        with self._output() as (published, out):
            if layout.header_from_rows:
                with Spool(self.path.parent) as spool:
                    header = spool.fill(rows, first=layout.first)
                    counts = self._write_all(
                        layout.writer(out, replace(layout.options, header=header)), spool.rows()
                    )
            else:
                counts = self._write_all(layout.writer(out, layout.options), rows)
        counts["bytes"] = published.size
        counts["file_replaced"] = int(published.replaced)
        return counts

    def publish(self, catalog: Catalog) -> dict[str, int]:
        """Publish the catalog as `write` would, rendering only the records that changed
        since the last publication (their renderings are kept beside the file); counts as
        `write`'s, plus `rendered` records."""
        layout = self._layout()
        fingerprint = json.dumps([self.settings, catalog.rules_fingerprint], sort_keys=True)
        with RenderedRows(rows_path(self.path), fingerprint) as rows:
            header, rendered = refresh(rows, catalog, layout)
            with self._output() as (published, out):
                counts = write_file(
                    rows, out, layout, header, catalog.held_back, self.context.progress
                )
            rows.commit()
        counts["rendered"] = rendered
        counts["bytes"] = published.size
        counts["file_replaced"] = int(published.replaced)
        return counts

    def _layout(self) -> Layout:
        options = {**DEFAULTS, **self.settings}
        pairs = _pairs(options)
        return Layout(
            writer=FORMATS[options["format"]],
            options=WriterOptions(
                header=[target for _, target in pairs],
                encoding=options["encoding"],
                delimiter="\t" if options["format"] == "txt" else options["delimiter"],
                root=options["root"],
                item=options["item"],
                namespaces=dict(options.get("namespaces") or {}),
            ),
            pairs=pairs or None,
            first=str(options["key"]),
        )

    @contextmanager
    def _output(self) -> Iterator[tuple[AtomicFile, Output]]:
        """The file's new content (gzip-compressed when asked), in place when the block ends
        without an error."""
        options = {**DEFAULTS, **self.settings}
        with AtomicFile(self.path) as published:
            compressed = (
                gzip.GzipFile(
                    filename=str(options.get("filename", ""))[: -len(".gz")],
                    mode="wb",
                    fileobj=published,
                    compresslevel=GZIP_LEVEL,
                    mtime=0,  # the same catalog gives the same bytes, so the file is kept
                )
                if options["gzip"]
                else nullcontext(published)
            )
            with compressed as out:
                yield published, out

    def _write_all(self, writer: Writer, rows: Iterable[Record]) -> dict[str, int]:
        written = 0
        for written, row in enumerate(rows, start=1):
            writer.write(row)
            if written % PROGRESS_EVERY == 0:
                self.context.progress(written, None)
        writer.close()
        self.context.progress(written, written)
        return {"written": written, "unencodable": writer.unencodable}

    @classmethod
    def public_urls(cls, connection: dict[str, Any], base_url: str) -> dict[str, str]:
        filename = connection["settings"].get("filename", "export.csv")
        token = connection["export_token"]
        return {"export_url": f"{base_url}/exports/{connection['_id']}/{token}/{filename}"}


def _extension(writer: type[Writer], gzipped: bool) -> str:
    return writer.extension + (".gz" if gzipped else "")


def _filename_problem(filename: str, writer: type[Writer], *, gzipped: bool) -> str | None:
    expected = _extension(writer, gzipped)
    name = filename.lower()
    if name.endswith(expected):
        return None
    if gzipped and not name.endswith(".gz"):
        return f"gzip is on, so the name must end in {expected}, e.g. export{expected}"
    if name.endswith(".gz"):
        return "the name ends in .gz but gzip is off: set gzip to true or drop the .gz"
    return f"a {writer.format} file's name must end in {expected}, e.g. export{expected}"


def _pairs(options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(source field, output name) per output column, in order."""
    if options.get("mapping"):
        return [(str(m["from"]), str(m["to"])) for m in options["mapping"]]
    return [(str(c), str(c)) for c in options.get("columns") or ()]


def _targets(options: Mapping[str, Any]) -> list[str] | None:
    """The output names, or None when every field is exported as it is."""
    return [target for _, target in _pairs(options)] or None


def _xml_problems(data: Mapping[str, Any], targets: list[str]) -> Iterator[tuple[str, str]]:
    namespaces: Mapping[str, str] = data.get("namespaces") or {}
    for prefix in namespaces:
        if not is_ncname(prefix) or prefix.lower().startswith("xml"):
            yield "namespaces", f"{prefix!r} cannot be a namespace prefix"
    for name in ("root", "item"):
        prefix, colon, local = data[name].partition(":")
        if not (is_ncname(data[name]) or (colon and prefix in namespaces and is_ncname(local))):
            yield name, f"{data[name]!r} is not an XML element name"
    for target in targets:
        prefix, colon, _ = target.partition(":")
        if colon and prefix not in namespaces and is_ncname(prefix):
            yield (
                "namespaces",
                f"{target!r} uses the prefix {prefix!r}: declare it, e.g. "
                f'{{"{prefix}": "<namespace URI>"}}',
            )
