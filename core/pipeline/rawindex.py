"""The raw index of a source: for each item of its last import, the hash of the item's bytes,
its key and its record's content hash.

It lets the next import of a feed that mostly did not change skip parsing and hashing the
items whose bytes it has seen (see `core/pipeline/rawread.py`). It is a cache in the data
folder, never the truth: it names the generation of the project's records it describes
(`index_generation` on the project) and the source's fingerprint (`RawItems.fingerprint`), and
is used only while both still hold; a missing, damaged or stale file only costs a full read.

File layout: one JSON line (version, fingerprint, generation, count, the keys' length in
bytes), then `count` raw hashes and `count` content hashes as unsigned 64-bit integers, then
the keys, one per line; a file of any other length is not used.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import xxhash

VERSION = 1
#: entries a writer holds in memory before writing them out
BUFFERED = 8192
#: the raw hash of an item's bytes
raw_hash = xxhash.xxh3_64_intdigest


@dataclass
class RawIndex:
    """A raw index as loaded: entry i is (raws[i], keys[i], hashes[i])."""

    fingerprint: str
    generation: str
    raws: array[int]
    hashes: array[int]
    keys: list[bytes]

    def __len__(self) -> int:
        return len(self.raws)


def raw_index_dir(data_dir: Path, project_id: str) -> Path:
    """Where a project's raw indexes live: `SYNCFARM_DATA_DIR/raw-index/<project id>`."""
    return Path(data_dir) / "raw-index" / project_id


def index_path(cache_dir: Path, connection_id: str) -> Path:
    return cache_dir / f"{connection_id}.raw"


def load(path: Path, fingerprint: str, generation: str | None) -> RawIndex | None:
    """The raw index at `path` when it was made under `fingerprint` for `generation`; None
    when it is missing, damaged or stale."""
    if generation is None:
        return None
    try:
        with path.open("rb") as file:
            header = json.loads(file.readline())
            if (
                header.get("version") != VERSION
                or header.get("fingerprint") != fingerprint
                or header.get("generation") != generation
            ):
                return None
            count = int(header["count"])
            raws, hashes = _words(file, count), _words(file, count)
            blob = file.read()
    except (OSError, ValueError, KeyError, EOFError):
        return None
    keys = blob.split(b"\n") if count else []
    if len(blob) != header.get("keys_bytes") or len(keys) != count:
        return None
    return RawIndex(fingerprint, generation, raws, hashes, keys)


def _words(file: IO[bytes], count: int) -> array[int]:
    words = array("Q")
    words.fromfile(file, count)
    if sys.byteorder != "little":  # pragma: no cover - the file is little-endian everywhere
        words.byteswap()
    return words


class RawIndexWriter:
    """Builds a raw index in temporary files beside `path`; `install` puts it in place.

    Entries go to disk as they come (a few thousand at a time), so building the raw index of
    a large catalog holds next to nothing in memory. A key that holds a line break cannot be
    stored: the writer then gives up (`broken`), and the next import reads in full.
    """

    def __init__(self, path: Path, fingerprint: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fingerprint = fingerprint
        self.broken = False
        self.count = 0
        self._keys_bytes = 0
        self._raws = array("Q")
        self._hashes = array("Q")
        self._files = [
            tempfile.TemporaryFile(dir=path.parent, prefix=f"{name}-")  # noqa: SIM115
            for name in ("raws", "hashes", "keys")
        ]

    def add(self, raw: int, key: str, digest: int) -> None:
        if self.broken:
            return
        if "\n" in key:
            self.broken = True
            return
        self._raws.append(raw)
        self._hashes.append(digest)
        self._key(key.encode())
        if len(self._raws) >= BUFFERED:
            self._flush()

    def extend(self, raws: array[int], hashes: array[int], keys: list[bytes]) -> None:
        """Add entries already encoded (kept from the previous raw index)."""
        if self.broken or not keys:
            return
        self._flush()
        _store(raws, self._files[0])
        _store(hashes, self._files[1])
        self._key(b"\n".join(keys))
        self.count += len(keys) - 1

    def _key(self, key: bytes) -> None:
        self._keys_bytes += self._files[2].write(b"\n" + key if self.count else key)
        self.count += 1

    def _flush(self) -> None:
        _store(self._raws, self._files[0])
        _store(self._hashes, self._files[1])
        del self._raws[:], self._hashes[:]

    def install(self, generation: str) -> None:
        """Write the file for `generation` and move it into place (atomically)."""
        if self.broken:
            self.discard()
            self.path.unlink(missing_ok=True)
            return
        self._flush()
        header = {
            "version": VERSION,
            "fingerprint": self.fingerprint,
            "generation": generation,
            "count": self.count,
            "keys_bytes": self._keys_bytes,
        }
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (renamed or removed below)
            dir=self.path.parent, prefix=f"{self.path.name}-", delete=False
        )
        try:
            with handle as out:
                out.write(json.dumps(header).encode() + b"\n")
                for part in self._files:
                    part.seek(0)
                    shutil.copyfileobj(part, out, 1 << 20)
            os.replace(handle.name, self.path)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        finally:
            self.discard()

    def discard(self) -> None:
        for part in self._files:
            part.close()


def _store(words: array[int], file: IO[bytes]) -> None:
    """Append `words` to `file` as little-endian unsigned 64-bit integers."""
    if sys.byteorder != "little":  # pragma: no cover - the file is little-endian everywhere
        words = array("Q", words)
        words.byteswap()
    words.tofile(file)
