"""Delimited text (CSV, TSV, TXT): a header line, then one record per row.

Bytes are decoded line by line, so a byte that is not the encoding is reported with its line
and byte offset; quoted fields may span lines. The delimiter is detected from the header line
among `,` `;` tab `|` unless set (TSV defaults to tab).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator

from core.errors import ConnectorError
from plugins.base import Record
from plugins.sources.detect import encoding_label, resolve_encoding
from plugins.sources.formats.options import ReadOptions
from plugins.sources.stream import SNIFF_BYTES, FeedStream

CANDIDATE_DELIMITERS = (",", ";", "\t", "|")


def read_csv(stream: FeedStream, options: ReadOptions) -> Iterator[Record]:
    return _read(stream, options, default_delimiter=None)


def read_txt(stream: FeedStream, options: ReadOptions) -> Iterator[Record]:
    return _read(stream, options, default_delimiter=None)


def read_tsv(stream: FeedStream, options: ReadOptions) -> Iterator[Record]:
    return _read(stream, options, default_delimiter="\t")


def sniff_delimiter(text: str) -> str:
    """The candidate delimiter found most often (outside quotes) in the first line; `,` when
    there is none."""
    line = _first_line(text)
    counts = {d: _count_unquoted(line, d) for d in CANDIDATE_DELIMITERS}
    best = max(CANDIDATE_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read(
    stream: FeedStream, options: ReadOptions, *, default_delimiter: str | None
) -> Iterator[Record]:
    head = stream.head()
    encoding = resolve_encoding(options.encoding, head, complete=len(head) < SNIFF_BYTES)
    delimiter = (
        options.delimiter or default_delimiter or sniff_delimiter(head.decode(encoding, "replace"))
    )
    reader = csv.reader(_lines(stream, encoding), delimiter=delimiter)
    header = _header(reader)
    if header is None:
        raise ConnectorError("the feed is empty: it has no header line")
    key = options.key
    _check_header(header, key, delimiter, reader.line_num)
    shape = RowShape(header, key, delimiter)
    while True:
        start = reader.line_num + 1
        row = _next_row(reader)
        if row is None:
            return
        if row:
            yield shape.record(row, start)


class RowShape:
    """How a row of the feed becomes a record: by the header, checked on the way."""

    def __init__(self, header: list[str], key: str, delimiter: str) -> None:
        self.header = header
        self.key = key
        self.delimiter = delimiter
        self.key_index = header.index(key)
        self.width = len(header)

    def record(self, row: list[str], start: int) -> Record:
        """The record of a non-empty `row` that starts on line `start`."""
        width = self.width
        if len(row) > width:
            if any(field.strip() for field in row[width:]):
                raise ConnectorError(
                    f"line {start} has {len(row)} fields, more than the header's {width}; "
                    f"check the quoting, or set `delimiter` if {self.delimiter!r} is wrong"
                )
            row = row[:width]
        elif len(row) < width:
            row = row + [""] * (width - len(row))
        if not row[self.key_index].strip():
            raise ConnectorError(f"line {start} has an empty key column {self.key!r}")
        return dict(zip(self.header, row, strict=True))


def _lines(stream: FeedStream, encoding: str) -> Iterator[str]:
    """The feed's lines as text; a byte that is not `encoding` names its line and offset."""
    shown = encoding_label(encoding)
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        # Not ASCII-compatible: lines cannot be split before decoding.
        text = io.TextIOWrapper(io.BufferedReader(stream, SNIFF_BYTES), encoding, newline="")
        try:
            yield from text
        except UnicodeDecodeError as exc:
            raise ConnectorError(
                f"the feed is not valid {shown} near byte {stream.offset}: {exc.reason}; "
                "set `encoding`"
            ) from None
        return
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    number = 0
    for number, raw in enumerate(io.BufferedReader(stream, SNIFF_BYTES), start=1):
        try:
            yield decoder.decode(raw)
        except UnicodeDecodeError as exc:
            raise ConnectorError(
                f"line {number} is not valid {shown} (byte {exc.start + 1} of the line, byte "
                f"offset {offset + exc.start} of the feed); set `encoding`, e.g. cp1252"
            ) from None
        offset += len(raw)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ConnectorError(
            f"line {number} ends the feed in the middle of a {shown} character (a truncated feed?)"
        ) from None


def _next_row(reader: Iterator[list[str]]) -> list[str] | None:
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        line = getattr(reader, "line_num", "?")
        raise ConnectorError(f"line {line} is not valid CSV: {exc}") from None


def _header(reader: Iterator[list[str]]) -> list[str] | None:
    while (row := _next_row(reader)) is not None:
        if any(field.strip() for field in row):
            return [name.strip() for name in row]
    return None


def _check_header(header: list[str], key: str, delimiter: str, line: int) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen and name:
            raise ConnectorError(
                f"line {line}: the header names the column {name!r} twice; column names must "
                "be unique"
            )
        seen.add(name)
    if key in seen:
        return
    if len(header) == 1:
        others = [d for d in CANDIDATE_DELIMITERS if d != delimiter and d in header[0]]
        if others:
            best = max(others, key=lambda d: _count_unquoted(header[0], d))
            raise ConnectorError(
                f"the feed has a single column {header[0]!r} and no key column {key!r}: the "
                f"delimiter {delimiter!r} seems wrong; set `delimiter` (e.g. {best!r})"
            )
    found = ", ".join(header) or "none"
    raise ConnectorError(
        f"the feed has no key column {key!r} (columns: {found}); set `key` to the column that "
        "identifies a record"
    )


def _first_line(text: str) -> str:
    for line in text.lstrip("\ufeff").splitlines():
        if line.strip():
            return line
    return ""


def _count_unquoted(line: str, char: str) -> int:
    count = 0
    quoted = False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == char and not quoted:
            count += 1
    return count
