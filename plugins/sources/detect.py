"""Guessing what a feed is from its name, its Content-Type and its first bytes."""

from __future__ import annotations

import codecs
import json
import re
from pathlib import PurePosixPath

UTF8_BOM = codecs.BOM_UTF8
GOOGLE_NAMESPACE = b"http://base.google.com/ns/1.0"

_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "txt",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xml": "xml",
    ".rss": "xml",
    ".atom": "xml",
}
_CONTENT_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "tsv",
    "application/json": "json",
    "text/json": "json",
    "application/x-ndjson": "jsonl",
    "application/ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/rss+xml": "xml",
    "application/atom+xml": "xml",
}
_HTML = re.compile(
    rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])",
    re.IGNORECASE | re.DOTALL,
)
_HTML_TITLE = re.compile(rb"<title[^>]*>([^<]{1,200})</title>", re.IGNORECASE)
_FEED_ROOT = re.compile(rb"<(rss|feed)[\s>]")
_SHOPIFY = re.compile(rb'^\s*\{\s*"products?"\s*:')


def strip_bom(head: bytes) -> bytes:
    return head[len(UTF8_BOM) :] if head.startswith(UTF8_BOM) else head


def detect_format(name: str, content_type: str | None, head: bytes) -> str:
    """The feed's format from the file name's extension, else the Content-Type, else the
    first bytes. An RSS or Atom feed with Google's namespace is `google`; JSON shaped like
    Shopify's Admin API products (`{"product": …}`, `{"products": […]}`) is `shopify`."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    family = (
        _EXTENSIONS.get(PurePosixPath(name).suffix.lower())
        or _CONTENT_TYPES.get(media_type)
        or _format_from_bytes(head)
    )
    if family == "csv" and media_type == "text/plain":
        family = "txt"
    if family == "xml" and GOOGLE_NAMESPACE in head and _FEED_ROOT.search(head):
        return "google"
    if family == "json" and _SHOPIFY.match(strip_bom(head)) and b'"variants"' in head:
        return "shopify"
    return family


def _format_from_bytes(head: bytes) -> str:
    text = strip_bom(head).lstrip()
    if text.startswith(b"<"):
        return "xml"
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        return "jsonl" if _looks_like_json_lines(text) else "json"
    return "csv"


def _looks_like_json_lines(text: bytes) -> bool:
    first, _, rest = text.partition(b"\n")
    try:
        json.loads(first)
    except ValueError:
        return False
    return rest.lstrip().startswith(b"{")


def looks_like_html(head: bytes) -> bool:
    return _HTML.match(strip_bom(head)) is not None


def html_title(head: bytes) -> str | None:
    found = _HTML_TITLE.search(head)
    return " ".join(found.group(1).decode("utf-8", "replace").split()) if found else None


def detect_encoding(head: bytes, *, complete: bool) -> str:
    """`utf-8-sig` (UTF-8 with or without a BOM) when `head` decodes as UTF-8, `utf-16` with
    a UTF-16 BOM, else `cp1252`, else `latin-1` (which decodes anything). `complete` says
    `head` is the whole feed, so a multi-byte character cut at its end is an error."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    try:
        head.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def resolve_encoding(setting: str | None, head: bytes, *, complete: bool) -> str:
    """The encoding to read with: detected for `auto`; a UTF-8 setting also accepts a BOM."""
    if not setting or setting == "auto":
        return detect_encoding(head, complete=complete)
    return "utf-8-sig" if codecs.lookup(setting).name == "utf-8" else setting


def encoding_label(encoding: str) -> str:
    """How an encoding is named to a user: `UTF-8` whether or not a BOM is accepted."""
    return "UTF-8" if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig") else encoding
