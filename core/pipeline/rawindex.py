"""The raw index of a source: for each item of its last import, the hash of the item's bytes,
its key and its record's content hash.

It lets the next import of a feed that mostly did not change skip parsing and hashing the
items whose bytes it has seen (see `core/pipeline/rawread.py`). It is a cache in the data
folder, never the truth: it names the generation of the project's records it describes
(`index_generation` on the project) and the source's fingerprint (`RawItems.fingerprint`), and
is used only while both still hold; a missing, damaged or stale file only costs a full read.

File layout: one JSON line (version, fingerprint, generation, count), then `count` raw hashes
and `count` content hashes as unsigned 64-bit integers, then the keys, one per line.
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
            keys = file.read().split(b"\n") if count else []
    except (OSError, ValueError, KeyError, EOFError):
        return None
    if len(keys) != count:
        return None
    return RawIndex(fingerprint, generation, raws, hashes, keys)


def _words(file: IO[bytes], count: int) -> array[int]:
    words = array("Q")
    words.fromfile(file, count)
    if sys.byteorder != "little":  # pragma: no cover - the file is little-endian everywhere
        words.byteswap()
    return words


class RawIndexWriter:
    """Builds a raw index in a temporary file beside `path`; `install` puts it in place.

    Keys go to disk as they come, so building it holds 16 bytes an entry in memory. A key
    that holds a line break cannot be stored: the writer then gives up (`broken`), and the
    next import reads in full.
    """

    def __init__(self, path: Path, fingerprint: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fingerprint = fingerprint
        self.raws = array("Q")
        self.hashes = array("Q")
        self.broken = False
        self._keys = tempfile.TemporaryFile(dir=path.parent, prefix="keys-")  # noqa: SIM115
        self._first = True

    def add(self, raw: int, key: str, digest: int) -> None:
        if self.broken:
            return
        if "\n" in key:
            self.broken = True
            return
        self.raws.append(raw)
        self.hashes.append(digest)
        self._keys.write(key.encode() if self._first else b"\n" + key.encode())
        self._first = False

    def extend(self, raws: array[int], hashes: array[int], keys: list[bytes]) -> None:
        """Add entries already encoded (kept from the previous raw index)."""
        if self.broken or not keys:
            return
        self.raws.extend(raws)
        self.hashes.extend(hashes)
        if not self._first:
            self._keys.write(b"\n")
        self._keys.write(b"\n".join(keys))
        self._first = False

    def install(self, generation: str) -> None:
        """Write the file for `generation` and move it into place (atomically)."""
        if self.broken:
            self.discard()
            self.path.unlink(missing_ok=True)
            return
        header = {
            "version": VERSION,
            "fingerprint": self.fingerprint,
            "generation": generation,
            "count": len(self.raws),
        }
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (renamed or removed below)
            dir=self.path.parent, prefix=f"{self.path.name}-", delete=False
        )
        try:
            with handle as out:
                out.write(json.dumps(header).encode() + b"\n")
                for words in (self.raws, self.hashes):
                    if sys.byteorder != "little":  # pragma: no cover
                        words = array("Q", words)
                        words.byteswap()
                    words.tofile(out)
                self._keys.seek(0)
                shutil.copyfileobj(self._keys, out, 1 << 20)
            os.replace(handle.name, self.path)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        finally:
            self.discard()

    def discard(self) -> None:
        self._keys.close()
