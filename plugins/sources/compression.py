"""Compressed feeds: gzip is unpacked as a stream; a zip's member (the first file, or
`zip_member`) is read from the archive, which a remote feed is first copied to a temporary
file for, since a zip's directory is at its end."""

from __future__ import annotations

import gzip
import shutil
import tempfile
import zipfile
from contextlib import ExitStack
from typing import BinaryIO

from core.errors import ConnectorError
from plugins.sources.stream import FeedStream

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP_SUFFIXES = (".gz", ".gzip")


def unpack(
    stream: FeedStream,
    name: str,
    *,
    stack: ExitStack,
    seekable: BinaryIO | None = None,
    zip_member: str | None = None,
) -> tuple[FeedStream, str, bool]:
    """The feed's own bytes, the name of what they are (a zip member's, or the name without
    `.gz`), and whether anything was unpacked. `seekable` is the feed's file when it is one;
    `stack` closes what was opened."""
    head = stream.head(4)
    inner_name = _without_gzip_suffix(name)
    if head.startswith(GZIP_MAGIC):
        unpacked = gzip.GzipFile(fileobj=stream, mode="rb")
        stack.callback(unpacked.close)
        return FeedStream(unpacked), inner_name, True
    if head.startswith(ZIP_MAGICS):
        try:
            archive = zipfile.ZipFile(seekable or _spooled(stream, stack))
        except zipfile.BadZipFile as exc:
            raise ConnectorError(f"the feed is not a readable zip file: {exc}") from None
        stack.callback(archive.close)
        member = _member(archive, zip_member)
        return FeedStream(stack.enter_context(archive.open(member))), member.filename, True
    if zip_member:
        raise ConnectorError("`zip_member` is set but the feed is not a zip file")
    return stream, inner_name, False


def _member(archive: zipfile.ZipFile, wanted: str | None) -> zipfile.ZipInfo:
    files = [
        info
        for info in archive.infolist()
        if not info.is_dir() and not info.filename.startswith("__MACOSX/")
    ]
    if wanted is None:
        if not files:
            raise ConnectorError("the feed is empty: the zip file holds no file")
        return files[0]
    for info in files:
        if wanted in (info.filename, info.filename.rsplit("/", 1)[-1]):
            return info
    names = ", ".join(i.filename for i in files[:10]) or "none"
    raise ConnectorError(
        f"the zip file has no member {wanted!r} (members: {names}); set `zip_member`"
    )


def _spooled(stream: FeedStream, stack: ExitStack) -> BinaryIO:
    spool = stack.enter_context(tempfile.TemporaryFile(prefix="syncfarm-feed-"))  # noqa: SIM115
    shutil.copyfileobj(stream, spool, 1024 * 1024)
    spool.seek(0)
    return spool


def _without_gzip_suffix(name: str) -> str:
    for suffix in _GZIP_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
