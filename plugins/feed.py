"""`feed`: a source reading a product feed as a stream of records.

The feed comes from an http(s) URL, a `file://` URL or an absolute path, maybe gzip- or
zip-compressed (`plugins.sources.transport`), in one of the formats of
`plugins.sources.formats`: CSV/TSV/TXT, JSON, JSON Lines, XML, a Google Merchant feed or
Shopify products. Nothing holds the whole feed: memory stays bounded whatever its size.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from marshmallow import Schema, ValidationError, fields, validate, validates

from core import netguard
from core.errors import ConnectorError
from plugins.base import Connector, RawItems, Record
from plugins.sources.auth import AuthSettings
from plugins.sources.detect import detect_format, html_title, looks_like_html, strip_bom
from plugins.sources.fetch import HttpOptions
from plugins.sources.files import check_file_allowed, local_path
from plugins.sources.formats import CHECKS_ITS_KEYS, READERS, ReadOptions
from plugins.sources.formats.delimited_raw import DelimitedRaw, delimited_raw
from plugins.sources.formats.keys import check_key
from plugins.sources.formats.xml_raw import XmlRawItems, xml_raw_items
from plugins.sources.stream import SNIFF_BYTES
from plugins.sources.transport import OpenedFeed, open_feed

__all__ = ["FeedConnector", "FeedSettings", "check_file_allowed", "local_path"]

FORMATS = ("auto", *READERS)
FORBIDDEN_DELIMITERS = frozenset({"\n", "\r", '"', "\x00"})


class FeedSettings(Schema):
    url = fields.String(
        required=True,
        metadata={"description": "http(s) URL, file:// URL or absolute file path of the feed"},
    )
    format = fields.String(
        load_default="auto",
        validate=validate.OneOf(FORMATS),
        metadata={
            "description": "csv, tsv, txt, json, jsonl, xml, google (Merchant RSS/Atom), "
            "shopify (Admin API products); auto: from the URL's extension, the Content-Type "
            "or the first bytes"
        },
    )
    key = fields.String(load_default="sku", metadata={"description": "the record key field"})
    delimiter = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(equal=1),
        metadata={"description": "column delimiter of CSV/TSV/TXT; detected when not given"},
    )
    encoding = fields.String(
        load_default="auto",
        metadata={
            "description": "auto (UTF-8 with or without BOM, else cp1252/latin-1), or a codec "
            "such as utf-8, cp1252, latin-1"
        },
    )
    items_path = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[^.\s]+(\.[^.\s]+)*$", error="a dotted path, e.g. data.items"),
        metadata={
            "description": "JSON: dotted path of the list of items in the top-level object; "
            "default: the first list of objects"
        },
    )
    item_path = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1),
        metadata={
            "description": "XML: element name of one item (item, g:item) or a slash path "
            "(/catalog/product); default: RSS items, Atom entries, else the root's children"
        },
    )
    zip_member = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "the file to read in a zip feed; default: its first file"},
    )
    auth = fields.Nested(
        AuthSettings,
        load_default=None,
        allow_none=True,
        metadata={"description": "http(s) authentication: basic, bearer, header or query"},
    )
    timeout_s = fields.Float(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=0, min_inclusive=False, max=3600),
        metadata={
            "description": "seconds to wait for the server to connect or send more bytes; "
            "default: the farm's SYNCFARM_HTTP_TIMEOUT_S"
        },
    )
    retries = fields.Integer(
        load_default=3,
        validate=validate.Range(min=0, max=10),
        metadata={
            "description": "times to retry after a connection error or a 5xx answer "
            "(waits 1, 2, 4 … s with jitter); 429 answers wait apart"
        },
    )

    @validates("url")
    def _check_url(self, value: str, **_: Any) -> None:
        scheme = urlparse(value).scheme
        if scheme not in ("http", "https", "file") and not value.startswith("/"):
            raise ValidationError("must be an http(s) URL, a file:// URL or an absolute path")
        if scheme in ("http", "https"):
            netguard.validate_public_url(value)
        else:
            check_file_allowed(local_path(value))

    @validates("encoding")
    def _check_encoding(self, value: str, **_: Any) -> None:
        if value == "auto":
            return
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValidationError(f"unknown encoding {value!r}") from None

    @validates("delimiter")
    def _check_delimiter(self, value: str | None, **_: Any) -> None:
        if value is not None and value in FORBIDDEN_DELIMITERS:
            raise ValidationError(f"{value!r} cannot be a delimiter")


#: formats whose rows can be handed over raw, with their default delimiter (None: detected)
RAW_DELIMITED: dict[str, str | None] = {"csv": None, "txt": None, "tsv": "\t"}


class FeedConnector(Connector):
    """Reads a feed as records. `sleep` is how retries wait (tests pass one that does not)."""

    name = "feed"
    settings_schema = FeedSettings
    roles = frozenset({"source", "secondary", "combined"})

    @classmethod
    def example_settings(cls, workdir: Path) -> dict[str, Any]:
        path = workdir / "example.csv"
        path.write_text("sku,title,price\nEX-1,Example,1.00\nEX-2,Another,2.00\n")
        return {"url": str(path)}

    def read(self) -> Iterator[Record]:
        with self._opened() as (feed, format_name, options):
            records = READERS[format_name](feed.stream, options)
            if format_name in CHECKS_ITS_KEYS:
                yield from records
                return
            for number, record in enumerate(records, start=1):
                yield check_key(record, options.key, f"item {number}")

    @contextmanager
    def raw_items(self) -> Iterator[RawItems | None]:  # type: ignore[override]
        """CSV, TSV and TXT feeds hand their rows over as bytes, XML feeds their items (see
        `RawItems`)."""
        with self._opened() as (feed, format_name, options):
            raw: DelimitedRaw | XmlRawItems | None = None
            if format_name in RAW_DELIMITED:
                default = RAW_DELIMITED[format_name]
                raw = delimited_raw(feed.stream, options, default_delimiter=default)
            elif format_name == "xml":
                raw = xml_raw_items(feed, options)
            if raw is not None:
                raw.fingerprint = f"{format_name}:{raw.fingerprint}"
            yield raw

    @contextmanager
    def _opened(self) -> Iterator[tuple[OpenedFeed, str, ReadOptions]]:
        """The feed opened and checked, its format, and the options its reader takes."""
        settings = self.loaded_settings()
        http = HttpOptions(
            timeout_s=settings["timeout_s"] or self.context.http_timeout_s,
            retries=settings["retries"],
            auth=settings["auth"],
            sleep=self.sleep,
        )
        options = ReadOptions(
            key=settings["key"],
            delimiter=settings["delimiter"],
            encoding=settings["encoding"],
            items_path=settings["items_path"],
            item_path=settings["item_path"],
        )
        with open_feed(settings["url"], http=http, zip_member=settings["zip_member"]) as feed:
            head = feed.stream.head()
            _check_is_a_feed(feed, head)
            format_name = settings["format"]
            if format_name == "auto":
                format_name = detect_format(feed.name, feed.content_type, head)
            yield feed, format_name, options


def _check_is_a_feed(feed: OpenedFeed, head: bytes) -> None:
    if not head:
        raise ConnectorError(f"the feed is empty: {feed.shown} has 0 bytes")
    if len(head) < SNIFF_BYTES and not strip_bom(head).strip():
        raise ConnectorError(f"the feed is empty: {feed.shown} holds only blanks")
    if looks_like_html(head):
        title = html_title(head)
        titled = f" (titled {title!r})" if title else ""
        if feed.remote:
            raise ConnectorError(
                f"the server answered an HTML page instead of a feed{titled}; check `url`, "
                "and `auth` if the page asks to log in"
            )
        raise ConnectorError(
            f"the feed file {feed.shown} is an HTML page{titled}, not a feed; check `url`"
        )
