"""Content hashes: 64-bit BLAKE2b digests of a record's canonical JSON, shown as 16 hex digits."""

from __future__ import annotations

import hashlib
import json
import zlib
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

BUCKETS = 256


_blake2b = hashlib.blake2b
if c_make_encoder is not None:
    # The C encoder `json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)`
    # builds on every call, built once; records hold no cycles, so it checks for none.
    _iterencode = c_make_encoder(
        None, str, encode_basestring_ascii, None, ":", ",", True, False, True
    )

    def _canonical(data: Any) -> str:
        return "".join(_iterencode(data, 0))

else:  # pragma: no cover - CPython always has the C encoder
    _encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)

    def _canonical(data: Any) -> str:
        return _encoder.encode(data)


def content_hash(data: Any) -> str:
    return _blake2b(_canonical(data).encode(), digest_size=8).hexdigest()


def content_hash_int(data: Any) -> int:
    """`content_hash` as the integer its hex digits spell (how the record index holds it)."""
    return int.from_bytes(_blake2b(_canonical(data).encode(), digest_size=8).digest())


def bucket_of(key: str) -> int:
    """Which of the project's index buckets holds `key` (stable across processes)."""
    return zlib.crc32(key.encode()) % BUCKETS
