"""Replacing a published file all at once: a reader sees the old file or the new one, never
half of one, and a failed write leaves the old file as it was.

The new content goes to a temporary file in the same folder (so the rename cannot cross file
systems), is fsynced, then `os.replace`d over the old file, and the folder is fsynced so the
rename survives a crash (this matters on the shared storage that `web` serves from). When the
new content is byte for byte the old one, the old file is kept: its modification time, and
so the `ETag`/`Last-Modified` that marketplaces send back, stay the same.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

CHUNK_BYTES = 1 << 20
#: a temporary file untouched this long was left by a process that died while writing
STALE_TEMP_S = 3600.0


class AtomicFile:
    """A binary output that becomes `path` when the `with` block ends without an error.

    After the block, `replaced` says whether `path` changed and `size` is its size in bytes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.replaced = False
        self._digest = hashlib.sha256()
        self._prefix = f".{path.name}."
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(path.parent, self._prefix)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=self._prefix, suffix=".tmp")
        self.tmp = Path(tmp)
        self._file = os.fdopen(fd, "wb")

    def __enter__(self) -> AtomicFile:
        return self

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._digest.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._file.flush()

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is None:
                self._file.flush()
                os.fsync(self._file.fileno())
            self._file.close()
            if kind is None and not self._same_as_published():
                os.replace(self.tmp, self.path)
                self.replaced = True
                _fsync_folder(self.path.parent)
        finally:
            self._file.close()
            self.tmp.unlink(missing_ok=True)

    def _same_as_published(self) -> bool:
        try:
            if self.path.stat().st_size != self.size:
                return False
            digest = hashlib.sha256()
            with self.path.open("rb") as published:
                while chunk := published.read(CHUNK_BYTES):
                    digest.update(chunk)
        except FileNotFoundError:
            return False
        return digest.digest() == self._digest.digest()


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(folder: Path, prefix: str) -> None:
    cutoff = time.time() - STALE_TEMP_S
    for temp in folder.glob(f"{prefix}*.tmp"):
        try:
            if temp.stat().st_mtime < cutoff:
                temp.unlink()
        except FileNotFoundError:
            pass
