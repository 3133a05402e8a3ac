"""`txt`: tab-separated text with no quoting at all, as marketplaces' "TXT feeds" expect:
tabs and line breaks inside a value become spaces, so every line is one record."""

from __future__ import annotations

import re
from collections.abc import Sequence

from plugins.base import Record
from plugins.writers.base import TEXT_ENCODINGS, Output, Writer, WriterOptions, cell_text

_BREAKS = re.compile(r"\r\n|[\t\r\n]")


def _flat(value: object) -> str:
    return _BREAKS.sub(" ", cell_text(value))


class TxtWriter(Writer):
    format = "txt"
    extension = ".txt"
    media_type = "text/plain"
    needs_header = True
    encodings = TEXT_ENCODINGS

    def __init__(self, out: Output, options: WriterOptions) -> None:
        super().__init__(out, options)
        self.header = list(options.header)
        self._line(self.header)

    def write(self, record: Record) -> None:
        self._line([record.get(name) for name in self.header])

    def _line(self, values: Sequence[object]) -> None:
        self.text.write("\t".join(_flat(v) for v in values) + "\n")
