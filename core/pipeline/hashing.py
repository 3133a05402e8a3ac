"""Content hashes: 64-bit BLAKE2b digests of a record's canonical JSON, shown as 16 hex digits."""

from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any

BUCKETS = 256


def content_hash(data: Any) -> str:
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(encoded.encode(), digest_size=8).hexdigest()


def bucket_of(key: str) -> int:
    """Which of the project's index buckets holds `key` (stable across processes)."""
    return zlib.crc32(key.encode()) % BUCKETS
