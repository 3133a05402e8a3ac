"""`csv`: comma-separated values (RFC 4180 quoting, CRLF line ends), one header row."""

from __future__ import annotations

import csv

from plugins.base import Record
from plugins.writers.base import TEXT_ENCODINGS, Output, Writer, WriterOptions, cell_text


class CsvWriter(Writer):
    format = "csv"
    extension = ".csv"
    media_type = "text/csv"
    needs_header = True
    encodings = TEXT_ENCODINGS

    def __init__(self, out: Output, options: WriterOptions) -> None:
        super().__init__(out, options)
        self.header = list(options.header)
        self.rows = csv.writer(self.text, delimiter=options.delimiter, lineterminator="\r\n")
        self.rows.writerow(self.header)

    def write(self, record: Record) -> None:
        self.rows.writerow([cell_text(record.get(name)) for name in self.header])
