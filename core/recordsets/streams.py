"""Streams of record keys in key order, read in batches and combined by merging.

Every collection that names records does so by a natural `_id` of the form `<owner>:<key>`
(records: `<project>:<key>`, changes and issues: `<connection>:<key>`), so the documents of one
owner, read in `_id` order, give their keys in key order, and any number of such streams can be
intersected, joined or subtracted by merging, holding one batch of each at a time. Reads are
one cursor per stream on an `_id` range (fetched a batch at a time), which every store serves
in `_id` index order: no sort in memory, no growing list.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from typing import Any

from pymongo.collection import Collection

#: documents read per query; the largest `$in` list a page view sends
BATCH_SIZE = 500

#: a source of keys in ascending order; called once per pass over the set
KeyStream = Callable[[], Iterator[str]]


def owner_range(owner: str) -> tuple[str, str]:
    """The `_id` bounds [low, high) of the documents `<owner>:<key>` (";" follows ":")."""
    return f"{owner}:", f"{owner};"


def scan(
    collection: Collection[Any],
    owner: str,
    *,
    query: Mapping[str, Any] | None = None,
    projection: Mapping[str, Any] | None = None,
    batch_size: int = BATCH_SIZE,
) -> Iterator[dict[str, Any]]:
    """The owner's documents matching `query`, in `_id` order: one cursor on the `_id` range,
    fetched `batch_size` at a time, closed when the caller stops reading."""
    low, high = owner_range(owner)
    selector = {**(query or {}), "_id": {"$gte": low, "$lt": high}}
    cursor = collection.find(selector, dict(projection) if projection else None)
    cursor = cursor.sort("_id", 1).batch_size(batch_size)
    try:
        yield from cursor
    finally:
        cursor.close()


def keys_of(
    collection: Collection[Any],
    owner: str,
    keep: Callable[[Mapping[str, Any]], bool] | None = None,
    *,
    query: Mapping[str, Any] | None = None,
    projection: Mapping[str, Any] | None = None,
    batch_size: int = BATCH_SIZE,
) -> Iterator[str]:
    """The keys of the owner's documents that `keep` accepts, in key order."""
    start = len(owner) + 1
    for doc in scan(collection, owner, query=query, projection=projection, batch_size=batch_size):
        if keep is None or keep(doc):
            yield doc["_id"][start:]


def union(streams: Iterable[Iterator[str]]) -> Iterator[str]:
    """Every key found in any of the ascending `streams`, once, in order."""
    last: str | None = None
    for key in heapq.merge(*streams):
        if key != last:
            yield key
            last = key


def intersect(streams: list[Iterator[str]]) -> Iterator[str]:
    """The keys found in every one of the ascending `streams`, in order."""
    if not streams:
        return
    heads: list[str] = []
    for stream in streams:
        head = next(stream, None)
        if head is None:
            return
        heads.append(head)
    while True:
        top = max(heads)
        if all(head == top for head in heads):
            yield top
            for i, stream in enumerate(streams):
                head = next(stream, None)
                if head is None:
                    return
                heads[i] = head
            continue
        for i, stream in enumerate(streams):
            while heads[i] < top:
                head = next(stream, None)
                if head is None:
                    return
                heads[i] = head


def difference(keys: Iterator[str], excluded: Iterator[str]) -> Iterator[str]:
    """The keys of the ascending `keys` that the ascending `excluded` does not hold."""
    other = next(excluded, None)
    for key in keys:
        while other is not None and other < key:
            other = next(excluded, None)
        if other != key:
            yield key


def batches(keys: Iterator[str], size: int) -> Iterator[list[str]]:
    """`keys` in lists of at most `size`."""
    while batch := list(islice(keys, size)):
        yield batch
