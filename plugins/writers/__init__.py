"""File writers: one per format (`csv`, `txt`, `json`, `jsonl`, `xml`), each streaming records
to a binary output. `FORMATS` maps a `format` setting to its writer."""

from __future__ import annotations

from plugins.writers.base import Writer, WriterOptions
from plugins.writers.csv import CsvWriter
from plugins.writers.json import JsonWriter
from plugins.writers.jsonl import JsonLinesWriter
from plugins.writers.txt import TxtWriter
from plugins.writers.xml import XmlWriter

FORMATS: dict[str, type[Writer]] = {
    w.format: w for w in (CsvWriter, TxtWriter, JsonWriter, JsonLinesWriter, XmlWriter)
}

__all__ = ["FORMATS", "Writer", "WriterOptions"]
