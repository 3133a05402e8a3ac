"""`FeedStream`: a feed's bytes, read once from the start, whatever the transport."""

from __future__ import annotations

import codecs
import io
import zipfile
import zlib
from typing import Any, Protocol

import requests
import urllib3

from core.errors import ConnectorError

#: how much of a feed is looked at before reading it: format, encoding and delimiter detection
SNIFF_BYTES = 64 * 1024

_TRANSPORT_ERRORS = (
    OSError,
    zlib.error,
    zipfile.BadZipFile,
    requests.RequestException,
    urllib3.exceptions.HTTPError,
)


class ByteSource(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class FeedStream(io.RawIOBase):
    """A readable byte stream whose first bytes can be looked at before reading (`head`).

    `offset` counts the bytes handed out so far; a transport that breaks off (a dropped
    connection, a truncated gzip member) becomes a `ConnectorError` naming that offset.
    """

    def __init__(self, source: ByteSource) -> None:
        super().__init__()
        self._source = source
        self._pending = bytearray()
        self._eof = False
        self.offset = 0

    def readable(self) -> bool:
        return True

    def head(self, size: int = SNIFF_BYTES) -> bytes:
        """Up to `size` first unread bytes (fewer only at the end of the feed), not consumed."""
        while len(self._pending) < size and not self._eof:
            chunk = self._read_source(size - len(self._pending))
            if chunk:
                self._pending += chunk
            else:
                self._eof = True
        return bytes(self._pending[:size])

    def skip(self, size: int) -> None:
        self.head(size)
        del self._pending[:size]
        self.offset += size

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._pending:
            count = min(len(view), len(self._pending))
            view[:count] = self._pending[:count]
            del self._pending[:count]
        elif self._eof:
            return 0
        else:
            chunk = self._read_source(len(view))
            count = len(chunk)
            view[:count] = chunk
        self.offset += count
        return count

    def _read_source(self, size: int) -> bytes:
        at = self.offset + len(self._pending)
        try:
            return self._source.read(size) or b""
        except ConnectorError:
            raise
        except EOFError as exc:
            raise ConnectorError(
                f"the compressed feed ends early, at byte {at} of its content (a truncated "
                "download?)"
            ) from exc
        except _TRANSPORT_ERRORS as exc:
            raise ConnectorError(f"reading the feed broke off at byte {at}: {exc}") from exc


class Utf8Recoder(io.RawIOBase):
    """The bytes of a stream in another encoding, re-encoded as UTF-8 (for parsers that only
    read UTF-8, such as ijson's)."""

    def __init__(self, source: io.RawIOBase, encoding: str) -> None:
        super().__init__()
        self._source = source
        self._encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)()
        self._pending = b""
        self._eof = False
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending and not self._eof:
            chunk = self._source.read(SNIFF_BYTES) or b""
            self._eof = not chunk
            try:
                self._pending = self._decoder.decode(chunk, final=self._eof).encode()
            except UnicodeDecodeError as exc:
                raise ConnectorError(
                    f"the feed is not valid {self._encoding} at byte offset "
                    f"{self._offset + max(exc.start, 0)}: {exc.reason}; set `encoding`"
                ) from None
            self._offset += len(chunk)
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count
