"""`jsonl`: JSON Lines (newline-delimited JSON), one object per line."""

from __future__ import annotations

import json

from plugins.base import Record
from plugins.writers.base import Writer, json_safe


class JsonLinesWriter(Writer):
    format = "jsonl"
    extension = ".jsonl"
    media_type = "application/x-ndjson"

    def write(self, record: Record) -> None:
        self.text.write(json.dumps(json_safe(record), ensure_ascii=False) + "\n")
