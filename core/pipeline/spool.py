"""Disk-backed buffers that keep a run's memory bounded whatever the catalog's size.

`RecordSpool` holds the records a run changed until the run commits them; `KeyedRecords` holds
secondary and combined sources so the primary feed can be joined against them by key.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

Record = dict[str, Any]


class RecordSpool:
    """An append-only temporary file of (key, record, hash) lines."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = tempfile.TemporaryFile(  # noqa: SIM115 (closed by close())
            "w+", dir=workdir, prefix="spool-", encoding="utf-8"
        )
        self.count = 0
        self._left_out: set[str] = set()

    def leave_out(self, keys: set[str]) -> None:
        """Records of these keys, appended already, are not handed out (they turned out not
        to have changed)."""
        self._left_out = keys
        self.count -= len(keys)

    def append(self, key: str, data: Record, digest: str) -> None:
        self._file.write(json.dumps([key, data, digest], separators=(",", ":"), default=str))
        self._file.write("\n")
        self.count += 1

    def __iter__(self) -> Iterator[tuple[str, Record, str]]:
        self._file.flush()
        self._file.seek(0)
        left_out = self._left_out
        for line in self._file:
            key, data, digest = json.loads(line)
            if key not in left_out:
                yield key, data, digest
        self._file.seek(0, 2)

    def close(self) -> None:
        self._file.close()


class KeyedRecords:
    """Records of one source by key, in a temporary SQLite file (the last row of a key wins)."""

    def __init__(self, workdir: Path, name: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (only reserves the name)
            dir=workdir, prefix=f"{name}-", suffix=".db", delete=False
        )
        handle.close()
        self.path = Path(handle.name)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE records (key TEXT PRIMARY KEY, data TEXT)")
        self.count = 0

    def put_all(self, rows: Iterator[tuple[str, Record]]) -> int:
        batch: list[tuple[str, str]] = []
        for key, data in rows:
            batch.append((key, json.dumps(data, default=str)))
            if len(batch) >= 5000:
                self._flush(batch)
        self._flush(batch)
        self.count = self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        return self.count

    def _flush(self, batch: list[tuple[str, str]]) -> None:
        if batch:
            self._db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?)", batch)
            self._db.commit()
            batch.clear()

    def get(self, key: str) -> Record | None:
        row = self._db.execute("SELECT data FROM records WHERE key = ?", (key,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def __iter__(self) -> Iterator[tuple[str, Record]]:
        for key, data in self._db.execute("SELECT key, data FROM records ORDER BY key"):
            yield key, json.loads(data)

    def close(self) -> None:
        self._db.close()
        self.path.unlink(missing_ok=True)
