"""The header pass of flat formats: a CSV header must name every column before the first row,
but a catalog is a stream. The rows go to an anonymous temporary file (JSON Lines) while
the union of their field names is collected; the file is then read back row by row. Memory
holds the column names, never the records."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from plugins.base import Record
from plugins.writers.base import cell_text


class Spool:
    """Use as a context manager; the temporary file is gone when it ends (or the process)."""

    def __init__(self, folder: Path) -> None:
        # in the export's folder: the same disk that must hold the export anyway
        self.file = tempfile.TemporaryFile("w+", encoding="utf-8", dir=folder)  # noqa: SIM115
        self.columns: dict[str, None] = {}

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.file.close()

    def fill(self, records: Iterable[Record], *, first: str | None = None) -> list[str]:
        """Spool `records` (as cell text); return the columns: `first` when any record has
        it, then every other field in the order first seen."""
        for record in records:
            row = {str(name): cell_text(value) for name, value in record.items()}
            for name in row:
                if name not in self.columns:
                    self.columns[name] = None
            # ASCII-escaped, so even a lone surrogate survives the round trip
            self.file.write(json.dumps(row) + "\n")
        columns = list(self.columns)
        if first is not None and first in self.columns:
            columns.remove(first)
            columns.insert(0, first)
        return columns

    def rows(self) -> Iterator[Record]:
        self.file.seek(0)
        for line in self.file:
            row: Record = json.loads(line)
            yield row
