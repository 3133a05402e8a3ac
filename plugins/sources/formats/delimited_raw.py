"""Delimited feeds (CSV, TSV, TXT) handed over as raw rows: `plugins.base.RawItems`.

A row without a quote character is one line, so it is handed over as it is, unparsed; a row
with quotes may span lines, so the `csv` module reads it (and only it) to find where it ends.
`parse` turns a row's bytes into the record `delimited._read` yields for it, with the same
checks and messages. Feeds in encodings that are not ASCII-compatible (UTF-16, UTF-32) are
not handed over raw: their lines cannot be split before decoding.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import json
from collections.abc import Iterator

from core.errors import ConnectorError
from plugins.base import Record
from plugins.sources.detect import encoding_label, resolve_encoding
from plugins.sources.formats.delimited import RowShape, _check_header, sniff_delimiter
from plugins.sources.formats.options import ReadOptions
from plugins.sources.stream import SNIFF_BYTES, FeedStream

#: bumped whenever a row's bytes could read as another record than before
VERSION = "delimited-raw-1"
QUOTE = b'"'
_BLANK = frozenset((b"\n", b"\r\n"))


class _Lines:
    """Lines for a `csv.reader`: taken from `lines`, decoded, their bytes kept in `taken`."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.shown = encoding_label(encoding)
        self.lines: Iterator[bytes] = iter(())
        self.taken: list[bytes] = []
        #: the feed's line number of the first line taken
        self.first = 1
        #: the feed's byte offset of the first line taken, when known
        self.offset: int | None = None

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = next(self.lines)
        self.taken.append(raw)
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            number = self.first + len(self.taken) - 1
            where = f"byte {exc.start + 1} of the line"
            if self.offset is not None:
                before = sum(len(line) for line in self.taken[:-1])
                where += f", byte offset {self.offset + before + exc.start} of the feed"
            raise ConnectorError(
                f"line {number} is not valid {self.shown} ({where}); set `encoding`, e.g. cp1252"
            ) from None

    def start(self, lines: Iterator[bytes], first: int, offset: int | None) -> None:
        self.lines, self.taken, self.first, self.offset = lines, [], first, offset


class DelimitedRaw:
    """The rows of a delimited feed after its header, as bytes (see the module)."""

    def __init__(self, stream: FeedStream, encoding: str, delimiter: str, key: str) -> None:
        self._offset = 0
        if codecs.lookup(encoding).name == "utf-8-sig":
            if stream.head(3) == codecs.BOM_UTF8:
                stream.skip(3)
                self._offset = 3
            encoding = "utf-8"  # past the start a BOM is a character like any other
        self._file: Iterator[bytes] = iter(io.BufferedReader(stream, SNIFF_BYTES))
        self._lines = _Lines(encoding)
        self._reader = csv.reader(self._lines, delimiter=delimiter)
        self._parsing = _Lines(encoding)
        self._parser = csv.reader(self._parsing, delimiter=delimiter)
        self._number = 0
        header, header_raw = self._header()
        _check_header(header, key, delimiter, self._number)
        self._shape = RowShape(header, key, delimiter)
        self.fingerprint = hashlib.blake2b(
            json.dumps([VERSION, encoding, delimiter, key, header_raw.hex()]).encode(),
            digest_size=16,
        ).hexdigest()
        #: (line number, byte offset) of the row handed over last, for `parse`'s messages
        self._last = (0, 0)

    def _header(self) -> tuple[list[str], bytes]:
        while True:
            row, taken = self._row(self._file, self._number + 1, self._offset)
            if row is None:
                raise ConnectorError("the feed is empty: it has no header line")
            self._number += len(taken)
            raw = b"".join(taken)
            self._offset += len(raw)
            if any(field.strip() for field in row):
                return [name.strip() for name in row], raw

    def _row(
        self, lines: Iterator[bytes], first: int, offset: int | None
    ) -> tuple[list[str] | None, list[bytes]]:
        """The next row read by `csv` from `lines`, and the lines it took."""
        self._lines.start(lines, first, offset)
        try:
            row = next(self._reader)
        except StopIteration:
            row = None
        except csv.Error as exc:
            line = first + len(self._lines.taken) - 1
            raise ConnectorError(f"line {line} is not valid CSV: {exc}") from None
        return row, self._lines.taken

    def __iter__(self) -> Iterator[tuple[bytes, int]]:
        number, offset = self._number, self._offset
        file, blank, quote = self._file, _BLANK, QUOTE
        for line in file:
            number += 1
            if quote in line:
                self._last = (number, offset)
                _, taken = self._row(itertools.chain((line,), file), number, offset)
                raw = b"".join(taken)
                yield raw, number
                number += len(taken) - 1
                offset += len(raw)
                continue
            if line not in blank:
                self._last = (number, offset)
                yield line, number
            offset += len(line)

    def parse(self, raw: bytes, where: int) -> Record | None:
        lines = raw.split(b"\n")
        pieces = [line + b"\n" for line in lines[:-1]]
        if lines[-1]:
            pieces.append(lines[-1])
        number, offset = self._last
        self._parsing.start(iter(pieces), where, offset if number == where else None)
        try:
            row = next(self._parser)
        except StopIteration:
            return None
        except csv.Error as exc:
            line = where + len(self._parsing.taken) - 1
            raise ConnectorError(f"line {line} is not valid CSV: {exc}") from None
        return self._shape.record(row, where) if row else None


def delimited_raw(
    stream: FeedStream, options: ReadOptions, *, default_delimiter: str | None
) -> DelimitedRaw | None:
    """The feed's rows as bytes, or None when its encoding is not ASCII-compatible."""
    head = stream.head()
    encoding = resolve_encoding(options.encoding, head, complete=len(head) < SNIFF_BYTES)
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        return None
    delimiter = (
        options.delimiter or default_delimiter or sniff_delimiter(head.decode(encoding, "replace"))
    )
    return DelimitedRaw(stream, encoding, delimiter, options.key)
