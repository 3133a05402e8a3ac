"""`json`: one JSON array of objects, written element by element."""

from __future__ import annotations

import json
from collections.abc import Iterable

from plugins.base import Record
from plugins.writers.base import Output, Writer, WriterOptions, json_safe


class JsonWriter(Writer):
    format = "json"
    extension = ".json"
    media_type = "application/json"

    def __init__(self, out: Output, options: WriterOptions) -> None:
        super().__init__(out, options)
        self.count = 0

    def write(self, record: Record) -> None:
        self.text.write("[\n" if self.count == 0 else ",\n")
        self.text.write(json.dumps(json_safe(record), ensure_ascii=False))
        self.count += 1

    def render(self, record: Record) -> tuple[bytes, int]:
        """The object alone: the separator before it depends on its place."""
        text = json.dumps(json_safe(record), ensure_ascii=False)
        with self.sink.capturing() as captured:
            self.text.write(text)
        return b"".join(captured), 0

    def place_pages(self, pages: Iterable[list[bytes]]) -> int:
        self.flush()
        placed = 0
        for page in pages:
            if page:
                self.sink.write((b"[\n" if self.count == 0 else b",\n") + b",\n".join(page))
                self.count += len(page)
                placed += len(page)
        return placed

    def close(self) -> None:
        self.text.write("[]\n" if self.count == 0 else "\n]\n")
