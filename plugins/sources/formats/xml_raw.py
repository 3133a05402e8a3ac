"""XML feed items as raw bytes (`RawItems`), for imports that skip the items that did not change.

`ItemScanner` cuts the feed into items and what lies outside them; the outside is read by lxml
as `iter_items` reads a whole feed (same checks, same messages), each run of items standing as
one placeholder: a placeholder the item path matches is claimed, one it does not match is not
items (yet must be well-formed). An item that reaches lxml whole (the scanner could not vouch
for it) is handed over as its record: JSON after a NUL byte, which no item's bytes start with.

`parse` reads an item's bytes inside a wrapper element declaring the namespaces in scope
around the items (the root element's; an item whose parent has others carries them, between
\\x01 bytes), after the document's DOCTYPE when it has one. `xml_raw_items` returns None for
feeds this cannot follow: UTF-16 and other encodings that are not ASCII-compatible, an item
path with `*`, or with several parts that is not absolute, or repeating the item's name, and an
item that is the root element.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from core.errors import ConnectorError
from plugins.base import Record
from plugins.sources.formats.keys import check_key
from plugins.sources.formats.options import ReadOptions
from plugins.sources.formats.xml_items import (
    AUTO_PATHS,
    PARSING,
    POSITION_SUFFIX,
    ItemPath,
    declared_encoding,
    element_record,
    names,
    release,
)
from plugins.sources.formats.xml_scan import PLACEHOLDER_ATTRIBUTE, QUOTED, ItemScanner
from plugins.sources.stream import FeedStream
from plugins.sources.transport import OpenedFeed

#: changes whenever what a record is made of, or how raw items are cut, changes
VERSION = 1
#: how far into the feed its root element must start
HEAD_BYTES = 1 << 20
_ASCII_COMPATIBLE = re.compile(r"^(ascii|utf-8|latin-1|iso8859-\d+|cp125\d)$")
_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_DECLARED = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)")
_DOCTYPE = (
    rb"<!DOCTYPE\s[^\[>]*(?:\[(?:[^\]\"'<]|" + QUOTED + rb"|<!--.*?-->|<(?:[^>\"']|"
    rb"" + QUOTED + rb")*>)*\]\s*)?>"
)
_PROLOGUE = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->|(" + _DOCTYPE + rb"))*(?=<[^!?/\s])", re.S)
_TAG_END = re.compile(rb"(?:[^>\"']|" + QUOTED + rb")*>")


def xml_raw_items(feed: OpenedFeed, options: ReadOptions) -> XmlRawItems | None:
    """The feed's items as bytes, or None when the scanner cannot follow this feed (`read()`
    then reads it). The feed is opened and checked; nothing of it is consumed."""
    head = feed.stream.head(HEAD_BYTES)
    if head.startswith(_WIDE_BOMS):
        return None
    body_at = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    encoding = _effective_encoding(options.encoding, head[body_at:])
    prologue = _PROLOGUE.match(head, body_at)
    if encoding is None or prologue is None:
        return None
    root_tag = _TAG_END.match(head, prologue.end())
    root = _root_element(head, root_tag.end(), options.encoding) if root_tag else None
    if root_tag is None or root is None:
        return None
    spec = options.item_path or AUTO_PATHS.get(names(root)[1], f"/{names(root)[0]}/*")
    path = ItemPath(spec)
    name = path.parts[-1] if path.parts else "*"
    local = name.rpartition(":")[2]
    if (
        "*" in path.parts
        or (len(path.parts) > 1 and not path.absolute)
        or any(part.rpartition(":")[2] == local for part in path.parts[:-1])
        or local in (names(root)[1], "")
        or not name.isascii()
    ):
        return None
    return XmlRawItems(
        stream=feed.stream,
        path=path,
        key=options.key,
        encoding_setting=options.encoding,
        encoding=encoding,
        doctype=head[body_at : prologue.end()] if prologue.group(1) else b"",
        root_nsmap=list(root.nsmap.items()),
        content_at=root_tag.end(),
    )


class XmlRawItems:
    """An XML feed's items as bytes (see the module's docstring); iterate once."""

    def __init__(
        self,
        *,
        stream: FeedStream,
        path: ItemPath,
        key: str,
        encoding_setting: str,
        encoding: str,
        doctype: bytes,
        root_nsmap: list[tuple[str | None, str]],
        content_at: int,
    ) -> None:
        self._stream = stream
        self._path = path
        self._key = key
        self._encoding_setting = encoding_setting
        self._encoding = encoding
        self._content_at = content_at
        self._root_nsmap = root_nsmap
        self._prologue = doctype
        self._wrapper = b"<w" + self._declarations(root_nsmap) + b">"
        self._parser = etree.XMLParser(encoding=encoding, **PARSING)
        described = [VERSION, "xml", path.spec, key, encoding, doctype.hex(), root_nsmap]
        self.fingerprint = hashlib.sha256(json.dumps(described).encode()).hexdigest()

    def __iter__(self) -> Iterator[tuple[bytes, int]]:
        number = 0
        for found in self._found():
            if isinstance(found, _Placed) and found.claimed:
                context = self._context(found.nsmap)
                for item in found.items:
                    number += 1
                    yield context + item, number
            elif isinstance(found, _Placed):
                for item in found.items:  # not items, yet they must be well-formed
                    self._element(self._context(found.nsmap) + item, number + 1)
            else:
                number += 1
                yield b"\x00" + json.dumps(found).encode(), number

    def _found(self) -> Iterator[_Placed | Record]:
        outside = _Outside(self._path, self._encoding_setting)
        scanner = ItemScanner(self._stream, self._path.parts[-1].encode(), self._encoding)
        for synthetic, runs in scanner.regions(self._content_at):
            outside.runs.extend(runs)
            yield from outside.feed(synthetic)
        yield from outside.close()

    def parse(self, raw: bytes, where: int) -> Record | None:
        if raw.startswith(b"\x00"):
            record: Record = json.loads(raw[1:])
        else:
            record = element_record(self._element(raw, where))
        return check_key(record, self._key, f"item {where}")

    def _element(self, raw: bytes, where: int) -> Any:
        wrapper = self._wrapper
        if raw.startswith(b"\x01"):
            declarations, _, raw = raw[1:].partition(b"\x01")
            wrapper = b"<w" + declarations + b">"
        try:
            root = etree.fromstring(self._prologue + wrapper + raw + b"</w>", self._parser)
        except etree.XMLSyntaxError as exc:
            line, column = exc.position
            reason = POSITION_SUFFIX.sub("", exc.msg or str(exc))
            line -= self._prologue.count(b"\n")
            column -= len(wrapper) if line == 1 else 0
            raise ConnectorError(
                f"the XML feed is not well-formed in item {where}, at its line {line}, column "
                f"{column}: {reason}"
            ) from None
        return root[0]

    def _context(self, nsmap: list[tuple[str | None, str]]) -> bytes:
        if nsmap == self._root_nsmap:
            return b""
        return b"\x01" + self._declarations(nsmap) + b"\x01"

    def _declarations(self, nsmap: list[tuple[str | None, str]]) -> bytes:
        text = "".join(
            f' xmlns{":" + prefix if prefix else ""}="{_escape(uri)}"' for prefix, uri in nsmap
        )
        return text.encode(self._encoding, "xmlcharrefreplace")


@dataclass
class _Placed:
    """A run of items (only blanks between them) that lxml read as one placeholder: claimed
    when the item path matches it, with the namespaces declared around it."""

    items: list[bytes]
    nsmap: list[tuple[str | None, str]]
    claimed: bool


class _Outside:
    """Reads what lies outside the items with lxml, as `iter_items` reads the whole feed:
    placeholders that the item path matches are claimed, others dropped; an item that is not
    a placeholder is read whole into its record."""

    def __init__(self, path: ItemPath, encoding: str) -> None:
        self.runs: deque[list[bytes]] = deque()
        self._parser = etree.XMLPullParser(
            events=("start", "end"), encoding=declared_encoding(encoding), **PARSING
        )
        self._path = path
        self._stack: list[tuple[str, str]] = []
        self._seen: dict[str, None] = {}
        self._inside = 0
        self._count = 0

    def feed(self, data: bytes) -> list[_Placed | Record]:
        found: list[_Placed | Record] = []
        try:
            self._parser.feed(data)
        except etree.XMLSyntaxError as exc:
            self._read_events(found)  # the items before the error count in its message
            raise self._error(exc) from None
        self._read_events(found)
        return found

    def close(self) -> list[_Placed | Record]:
        found: list[_Placed | Record] = []
        try:
            self._parser.close()
            self._read_events(found)
        except etree.XMLSyntaxError as exc:
            raise self._error(exc) from None
        if self._count == 0 and self._seen:
            raise ConnectorError(
                f"the XML feed has no {self._path} elements (elements found: "
                f"{', '.join(self._seen)}); set `item_path` to the element of one item, e.g. "
                "product or /catalog/product"
            )
        return found

    def _read_events(self, found: list[_Placed | Record]) -> None:
        stack, path = self._stack, self._path
        for event, element in self._parser.read_events():
            placeholder = element.get(PLACEHOLDER_ATTRIBUTE) is not None
            if self._inside:
                if placeholder:
                    raise ConnectorError("the XML feed's items could not be told apart")
                if event == "start":
                    self._inside += 1
                    continue
                self._inside -= 1
                if self._inside:
                    continue
                self._count += 1
                found.append(element_record(element))
                release(element)
                stack.pop()
                continue
            if event == "end":
                release(element)
                stack.pop()
                continue
            stack.append(names(element))
            if len(self._seen) < 12 and len(stack) > 1:
                self._seen.setdefault(stack[-1][0])
            matches = path.matches(stack)
            if placeholder:
                items = self.runs.popleft()
                parent = element.getparent()
                nsmap = list(parent.nsmap.items()) if parent is not None else []
                found.append(_Placed(items, nsmap, matches))
                self._count += len(items) if matches else 0
            elif matches:
                self._inside = 1

    def _error(self, exc: etree.XMLSyntaxError) -> ConnectorError:
        line, column = exc.position
        where = f"in item {self._count + 1}" if self._inside else f"after item {self._count}"
        reason = POSITION_SUFFIX.sub("", exc.msg or str(exc))
        return ConnectorError(
            f"the XML feed is not well-formed at line {line}, column {column} ({where}): {reason}"
        )


def _effective_encoding(setting: str, body: bytes) -> str | None:
    """The codec lxml reads the feed with, when it is one the scanner can search (every
    ASCII character is its own byte); else None."""
    try:
        chosen = declared_encoding(setting)
        if chosen is None:
            declared = _DECLARED.match(body)
            chosen = declared.group(1).decode() if declared else "utf-8"
        name = codecs.lookup(chosen).name
    except LookupError:
        return None
    name = "utf-8" if name == "utf-8-sig" else name
    return name if _ASCII_COMPATIBLE.match(name) else None


def _root_element(head: bytes, root_end: int, encoding: str) -> Any:
    """The root element as lxml reads its start tag, which ends at `root_end`; None when the
    feed's start is broken. lxml may wait for a few bytes past the tag before it reports it:
    they are given one at a time, so that nothing further is read."""
    parser = etree.XMLPullParser(
        events=("start",),
        encoding=declared_encoding(encoding),
        resolve_entities=False,
        no_network=True,
    )
    try:
        parser.feed(head[:root_end])
        for at in range(root_end, min(len(head), root_end + 64)):
            found = next((element for _, element in parser.read_events()), None)
            if found is not None:
                return found
            parser.feed(head[at : at + 1])
        return next((element for _, element in parser.read_events()), None)
    except etree.XMLSyntaxError:
        return None


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
