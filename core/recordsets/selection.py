"""A compiled intersection of record sets, read a page at a time.

A selection has three parts, all optional: `conditions` on the record's own fields (sent to
MongoDB as they are), key streams to intersect (`include`) or subtract (`exclude`) — read from
change documents or issues, in key order — and `checks` run on the record's values (numbers,
the channel's view). With neither streams nor checks a page is one MongoDB query and the total
is `count_documents`. Otherwise the matching keys are streamed in key order: candidates are
read `batch_size` at a time (the records' own `_id` range, or the merged key streams looked up
by `_id`, at most `batch_size` ids per `$in`), checked, and counted; the page keeps only the keys
it shows, and counting stops past `count_limit` (the total is then a lower bound, `exact` False).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.recordsets.streams import (
    BATCH_SIZE,
    KeyStream,
    batches,
    difference,
    intersect,
    scan,
    union,
)
from core.store import Store

#: matching records counted exactly per page view of a streamed selection; past it (and past
#: the end of the page asked for) the total reads "more than this"
COUNT_LIMIT = 10_000

#: a check on the record's data (as projected) and key
Check = Callable[[Mapping[str, Any], str], bool]


@dataclass(frozen=True)
class Page:
    """One page of a selection: its records (whole, in key order) and the selection's total;
    when `exact` is False the total is a lower bound (counting stopped there)."""

    records: list[dict[str, Any]]
    total: int
    exact: bool


@dataclass
class RecordSelection:
    """The project's records in every set of a query; see the module docstring."""

    store: Store
    project_id: str
    conditions: list[dict[str, Any]] = field(default_factory=list)
    include: list[KeyStream] = field(default_factory=list)
    exclude: list[KeyStream] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    fields: set[str] | None = field(default_factory=set)  # None: the whole record is read
    batch_size: int = BATCH_SIZE

    def check(self, check: Check, fields: Iterable[str] | None) -> None:
        """Keep only the records `check` accepts; it reads `fields` (None: the whole data)."""
        self.checks.append(check)
        if fields is None or self.fields is None:
            self.fields = None
        else:
            self.fields |= set(fields)

    @property
    def streamed(self) -> bool:
        """Whether the selection needs key streams or checks (else it is one query)."""
        return bool(self.include or self.exclude or self.checks)

    def query(self) -> dict[str, Any]:
        """The MongoDB filter of the field conditions (the whole selection when not
        `streamed`)."""
        query: dict[str, Any] = {"project_id": self.project_id}
        if len(self.conditions) == 1:
            query.update(self.conditions[0])
        elif self.conditions:
            query["$and"] = list(self.conditions)
        return query

    def keys(self) -> Iterator[str]:
        """Every key of the selection, in key order, read in batches."""
        if self.include:
            candidates = intersect([stream() for stream in self.include])
            return self._looked_up(self._without_excluded(candidates))
        if not self.streamed:
            return (doc["key"] for doc in self._scanned({"key": 1}))
        return self._without_excluded(self._checked(self._scanned(self._projection())))

    def page(self, first: int, size: int, *, count_limit: int | None = None) -> Page:
        """Records `first` … `first + size - 1` of the selection (by key) and its total,
        counted up to `count_limit` (default `COUNT_LIMIT`) or the end of the page."""
        if not self.streamed:
            query = self.query()
            total = self.store.records.count_documents(query)
            found = self.store.records.find(query).sort("_id", 1).skip(first).limit(size)
            return Page(list(found) if size else [], total, True)
        limit = max(COUNT_LIMIT if count_limit is None else count_limit, first + size)
        shown: list[str] = []
        total = 0
        for key in self.keys():
            if first <= total < first + size:
                shown.append(key)
            total += 1
            if total > limit:
                break
        return Page(self._records(shown), total, total <= limit)

    def _records(self, keys: list[str]) -> list[dict[str, Any]]:
        ids = [f"{self.project_id}:{key}" for key in keys]
        if not ids:
            return []
        return list(self.store.records.find({"_id": {"$in": ids}}).sort("_id", 1))

    def _projection(self) -> dict[str, int]:
        if self.fields is None:
            return {"key": 1, "data": 1}
        return {"key": 1, **{f"data.{name}": 1 for name in sorted(self.fields)}}

    def _scanned(self, projection: dict[str, int]) -> Iterator[dict[str, Any]]:
        return scan(
            self.store.records,
            self.project_id,
            query=self.query(),
            projection=projection,
            batch_size=self.batch_size,
        )

    def _checked(self, docs: Iterator[dict[str, Any]]) -> Iterator[str]:
        start = len(self.project_id) + 1
        for doc in docs:
            key = doc["_id"][start:]
            data = _data_of(doc)
            if all(check(data, key) for check in self.checks):
                yield key

    def _looked_up(self, candidates: Iterator[str]) -> Iterator[str]:
        """The candidates that are records matching the conditions and checks."""
        projection = self._projection()
        for batch in batches(candidates, self.batch_size):
            ids = [f"{self.project_id}:{key}" for key in batch]
            found = self.store.records.find({**self.query(), "_id": {"$in": ids}}, projection)
            yield from self._checked(iter(sorted(found, key=lambda doc: str(doc["_id"]))))

    def _without_excluded(self, keys: Iterator[str]) -> Iterator[str]:
        if not self.exclude:
            return keys
        return difference(keys, union(stream() for stream in self.exclude))


def _data_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The record's data as projected: nested (MongoDB, mongomock) or under dotted names
    (nx-27017 answers a `data.stock` projection with a `data.stock` key)."""
    data = dict(doc.get("data") or {})
    for name, value in doc.items():
        if name.startswith("data."):
            data[name[5:]] = value
    return data
