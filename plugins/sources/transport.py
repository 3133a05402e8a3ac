"""Opening a feed by its URL: an http(s) URL (streamed), a `file://` URL or a local path, with
gzip and zip unpacked, as one `FeedStream` read from the start."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

from plugins.sources.compression import unpack
from plugins.sources.fetch import HttpOptions, get_streamed, shown_url
from plugins.sources.files import open_local
from plugins.sources.stream import FeedStream

_FILENAME = re.compile(r"""filename\*?=(?:UTF-8'')?["']?([^"';]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class OpenedFeed:
    stream: FeedStream
    #: a file name to guess the format from (e.g. a zip member's), maybe without extension
    name: str
    content_type: str | None
    #: whether a server sent it (rather than a file)
    remote: bool
    #: the URL as messages show it (without a password)
    shown: str


def is_remote(url: str) -> bool:
    return urlparse(url).scheme in ("http", "https")


@contextmanager
def open_feed(
    url: str, *, http: HttpOptions, zip_member: str | None = None
) -> Iterator[OpenedFeed]:
    with ExitStack() as stack:
        if is_remote(url):
            response = stack.enter_context(get_streamed(url, http))
            response.raw.decode_content = True
            stream = FeedStream(response.raw)
            disposition = _FILENAME.search(response.headers.get("Content-Disposition", ""))
            name = disposition.group(1) if disposition else _url_name(url)
            content_type = response.headers.get("Content-Type")
            seekable = None
        else:
            path, handle = open_local(url)
            stack.enter_context(handle)
            stream, name, content_type, seekable = FeedStream(handle), path.name, None, handle
        stream, name, unpacked = unpack(
            stream, name, stack=stack, seekable=seekable, zip_member=zip_member
        )
        yield OpenedFeed(
            stream=stream,
            name=name,
            content_type=None if unpacked else content_type,
            remote=is_remote(url),
            shown=shown_url(url),
        )


def _url_name(url: str) -> str:
    return PurePosixPath(unquote(urlparse(url).path)).name
