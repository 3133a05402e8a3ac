"""What every file writer shares: the writer contract, how a value becomes text, and a text
output that counts the characters its encoding cannot hold instead of failing on them."""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Protocol

from plugins.base import Record

#: encodings a text format may be written in; anything else is refused by the settings schema
TEXT_ENCODINGS = ("utf-8", "utf-8-sig", "cp1252")
#: what a `Content-Type` charset calls each encoding
CHARSETS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "cp1252": "windows-1252"}


class Output(Protocol):
    """Where a writer's bytes go: a file, the atomic temporary file, a gzip stream."""

    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True)
class WriterOptions:
    """The settings a writer needs; `header` is the column names of flat formats, in order."""

    header: Sequence[str] = ()
    encoding: str = "utf-8"
    delimiter: str = ","
    root: str = "products"
    item: str = "product"
    namespaces: dict[str, str] = field(default_factory=dict)


class Writer:
    """Writes one document to a binary stream, one record at a time, never holding more than
    the record at hand. Call `write` per record, then `close` once to finish the document
    (closing brackets, root element); `close` does not close the stream."""

    #: the settings value that picks this writer
    format: ClassVar[str]
    #: the file name ends with this (before `.gz`)
    extension: ClassVar[str]
    media_type: ClassVar[str]
    #: flat formats write a header row first, so they need every column before any record
    needs_header: ClassVar[bool] = False
    #: encodings this format may be written in
    encodings: ClassVar[tuple[str, ...]] = ("utf-8",)

    def __init__(self, out: Output, options: WriterOptions) -> None:
        self.options = options
        #: where every byte goes: `out`, or a record's rendering while `render` captures it
        self.sink = Sink(out)
        self.text = EncodedText(self.sink, options.encoding)

    @property
    def unencodable(self) -> int:
        """Characters replaced because the file's encoding (or format) cannot hold them."""
        return self.text.unencodable

    def write(self, record: Record) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the document (most formats have nothing left to write)."""

    def flush(self) -> None:
        """Hand every byte written so far to the output (formats that buffer override it)."""

    def render(self, record: Record) -> tuple[bytes, int]:
        """The bytes `write(record)` puts in the document, and the characters it replaced;
        `place_all` writes such renderings again later, byte for byte, without the record.
        A record's rendering does not depend on where in the document it stands (given the
        same options): formats with separators between records leave them out here."""
        before = self.unencodable
        self.flush()
        with self.sink.capturing() as captured:
            self.write(record)
            self.flush()
        return b"".join(captured), self.unencodable - before

    def place_pages(self, pages: Iterable[list[bytes]]) -> int:
        """Write renderings from `render`, in order, where records would go, a page (a list
        of renderings, one write) at a time; returns how many."""
        self.flush()
        count = 0
        for page in pages:
            self.sink.write(b"".join(page))
            count += len(page)
        return count

    @classmethod
    def content_type(cls, encoding: str) -> str:
        if cls.media_type.startswith("text/"):
            return f"{cls.media_type}; charset={CHARSETS.get(encoding, encoding)}"
        return cls.media_type


class Sink:
    """An output that `render` can divert, for a moment, into a list of byte strings."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self._captured: list[bytes] | None = None

    def write(self, data: bytes, /) -> int:
        if self._captured is None:
            return self.out.write(data)
        self._captured.append(bytes(data))
        return len(data)

    @contextmanager
    def capturing(self) -> Iterator[list[bytes]]:
        captured: list[bytes] = []
        self._captured = captured
        try:
            yield captured
        finally:
            self._captured = None


class EncodedText:
    """A text stream over a binary one: characters the encoding cannot hold become `?` and are
    counted in `unencodable`, so one odd character never fails a whole export."""

    def __init__(self, out: Output, encoding: str) -> None:
        self.out = out
        self.unencodable = 0
        if encoding == "utf-8-sig":
            # the BOM once, up front; the rest is plain UTF-8
            out.write(codecs.BOM_UTF8)
            encoding = "utf-8"
        self.encoding = encoding

    def write(self, text: str) -> int:
        try:
            data = text.encode(self.encoding)
        except UnicodeEncodeError:
            data = self._replacing(text)
        self.out.write(data)
        return len(text)

    def _replacing(self, text: str) -> bytes:
        parts: list[bytes] = []
        for char in text:
            try:
                parts.append(char.encode(self.encoding))
            except UnicodeEncodeError:
                self.unencodable += 1
                parts.append(b"?")
        return b"".join(parts)


def cell_text(value: Any) -> str:
    """A value as one cell of a flat file (or the text of an XML element): nothing for None,
    `true`/`false`, ISO 8601 dates, lists and objects as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(json_safe(value), ensure_ascii=False, separators=(",", ":"))
    return str(value)


def json_safe(value: Any) -> Any:
    """A value JSON can hold: NaN and infinities (invalid JSON) become null, dates ISO 8601
    text, anything else unknown its text."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
