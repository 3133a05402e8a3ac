"""`feed`: a source reading a CSV feed from a file path or an http(s) URL, as a stream."""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests
from marshmallow import Schema, ValidationError, fields, validate, validates

from core.errors import ConnectorError
from plugins.base import Connector, Record

SNIFF_BYTES = 64 * 1024
FORBIDDEN_DELIMITERS = frozenset({"\n", "\r", '"', "\x00"})


class FeedSettings(Schema):
    url = fields.String(
        required=True,
        metadata={"description": "http(s) URL, file:// URL or absolute file path of the feed"},
    )
    key = fields.String(load_default="sku", metadata={"description": "the record key column"})
    delimiter = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(equal=1),
        metadata={"description": "column delimiter; detected when not given"},
    )
    encoding = fields.String(
        load_default="utf-8-sig", metadata={"description": "e.g. utf-8-sig, cp1252, latin-1"}
    )

    @validates("url")
    def _check_url(self, value: str, **_: Any) -> None:
        scheme = urlparse(value).scheme
        if scheme not in ("http", "https", "file") and not value.startswith("/"):
            raise ValidationError("must be an http(s) URL, a file:// URL or an absolute path")
        if scheme not in ("http", "https"):
            check_file_allowed(local_path(value))

    @validates("encoding")
    def _check_encoding(self, value: str, **_: Any) -> None:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValidationError(f"unknown encoding {value!r}") from None

    @validates("delimiter")
    def _check_delimiter(self, value: str | None, **_: Any) -> None:
        if value is not None and value in FORBIDDEN_DELIMITERS:
            raise ValidationError(f"{value!r} cannot be a delimiter")


class FeedConnector(Connector):
    name = "feed"
    settings_schema = FeedSettings
    roles = frozenset({"source", "secondary", "combined"})

    @classmethod
    def example_settings(cls, workdir: Path) -> dict[str, Any]:
        path = workdir / "example.csv"
        path.write_text("sku,title,price\nEX-1,Example,1.00\nEX-2,Another,2.00\n")
        return {"url": str(path)}

    def read(self) -> Iterator[Record]:
        key = self.key_field
        with self._open() as raw:
            stream = io.BufferedReader(raw, buffer_size=SNIFF_BYTES)
            head = stream.peek(SNIFF_BYTES).decode(self.settings["encoding"], errors="replace")
            delimiter = self.settings.get("delimiter") or _sniff_delimiter(head)
            text = io.TextIOWrapper(stream, encoding=self.settings["encoding"], newline="")
            reader = csv.DictReader(text, delimiter=delimiter)
            if not reader.fieldnames or key not in reader.fieldnames:
                found = ", ".join(reader.fieldnames or []) or "no header"
                raise ConnectorError(
                    f"the feed has no key column {key!r} (columns: {found}); set `key` to the "
                    "column that identifies a record"
                )
            columns = len(reader.fieldnames)
            try:
                for row in reader:
                    if None in row:
                        raise ConnectorError(
                            f"line {reader.line_num} has more fields than the header ({columns})"
                        )
                    if not row.get(key):
                        raise ConnectorError(
                            f"line {reader.line_num} has an empty key column {key!r}"
                        )
                    yield {k: (v if v is not None else "") for k, v in row.items()}
            except UnicodeDecodeError:
                raise ConnectorError(
                    f"the feed is not valid {self.settings['encoding']} after line "
                    f"{reader.line_num}; set `encoding` (e.g. cp1252)"
                ) from None
            except csv.Error as exc:
                raise ConnectorError(f"line {reader.line_num} is not valid CSV: {exc}") from None

    @contextmanager
    def _open(self) -> Iterator[Any]:
        """The feed's bytes as a raw stream (an HTTP body is streamed, never held whole)."""
        url: str = self.settings["url"]
        parsed = urlparse(url)
        if parsed.scheme in ("http", "https"):
            try:
                response = requests.get(url, stream=True, timeout=self.context.http_timeout_s)
            except requests.RequestException as exc:
                raise ConnectorError(f"could not fetch the feed {url}: {exc}") from exc
            with response:
                if response.status_code >= 400:
                    raise ConnectorError(
                        f"fetching the feed {url} answered HTTP {response.status_code}"
                    )
                response.raw.decode_content = True
                response.raw.auto_close = False
                yield response.raw
            return
        path = local_path(url)
        try:
            check_file_allowed(path)
        except ValidationError as exc:
            raise ConnectorError(" ".join(map(str, exc.messages))) from None
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ConnectorError(f"could not open the feed file {path}: {exc.strerror}") from exc
        with handle:
            yield handle


def local_path(url: str) -> Path:
    parsed = urlparse(url)
    return Path(parsed.path if parsed.scheme == "file" else url)


def check_file_allowed(path: Path) -> None:
    """Refuse feed files outside `SYNCFARM_FILE_ROOTS` (colon-separated folders) when set."""
    raw = os.environ.get("SYNCFARM_FILE_ROOTS", "").strip()
    if not raw:
        return
    resolved = path.resolve()
    roots = [Path(r).resolve() for r in raw.split(":") if r]
    if not any(resolved.is_relative_to(root) for root in roots):
        raise ValidationError(
            f"feed files must be under {', '.join(map(str, roots))} (SYNCFARM_FILE_ROOTS); "
            f"{path} is not"
        )


def _sniff_delimiter(sample: str) -> str:
    try:
        first_line = sample.lstrip("\ufeff").split("\n", 1)[0]
        return csv.Sniffer().sniff(first_line or ",", ",;\t|").delimiter
    except csv.Error:
        return ","
