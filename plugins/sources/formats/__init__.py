"""Feed formats: each reads a `FeedStream` into records, one at a time.

A reader takes the stream and the `ReadOptions` it needs and yields records (dicts). Readers of
line-based formats (delimited text, JSON Lines) check the key themselves, to name the line; the
connector checks the key of every other format's records by item number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from plugins.base import Record
from plugins.sources.formats.delimited import read_csv, read_tsv, read_txt
from plugins.sources.formats.google import read_google
from plugins.sources.formats.json_items import read_json, read_json_lines
from plugins.sources.formats.options import ReadOptions
from plugins.sources.formats.shopify import read_shopify
from plugins.sources.formats.xml_items import read_xml
from plugins.sources.stream import FeedStream

Reader = Callable[[FeedStream, ReadOptions], Iterator[Record]]

READERS: dict[str, Reader] = {
    "csv": read_csv,
    "tsv": read_tsv,
    "txt": read_txt,
    "json": read_json,
    "jsonl": read_json_lines,
    "xml": read_xml,
    "google": read_google,
    "shopify": read_shopify,
}
#: formats whose reader checks the key itself, naming lines
CHECKS_ITS_KEYS = frozenset({"csv", "tsv", "txt", "jsonl"})

__all__ = ["CHECKS_ITS_KEYS", "READERS", "ReadOptions", "Reader"]
