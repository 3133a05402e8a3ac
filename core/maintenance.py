"""The data-integrity job: brings stored documents up to the current schema version.

Each collection's documents carry `schema_version` (`core.versions`). This job scans every
collection for documents below the current version and runs the registered migration steps on
each, one version at a time; a document without the field is version 0, written by a syncfarm
from before versions. Steps only add what is missing (the defaults of fields added since), so
running the job twice changes nothing the second time, and documents are written by `_id`.

It runs as the `integrity` job kind (the project's documents; counts in the run's stage) and
as `syncfarm maintenance integrity [--dry-run]` (the whole database).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pymongo import UpdateOne

from core.order_time import order_time
from core.record_set_settings import RECORD_SET_DEFAULTS
from core.store import COLLECTIONS, Store
from core.versions import CURRENT, FIELD, version_of
from plugins.registry import UnknownConnector, get_connector

BATCH = 500
ORDER_SOURCE_TASK = "orders.download"

#: (store, document, memo) -> the fields to set; `memo` lives for one pass of the job, so a
#: step can read what it needs once per project rather than once per document
Upgrade = Callable[[Store, dict[str, Any], dict[Any, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Step:
    """Upgrades a document of `collection` from `version` to `version + 1`: `upgrade` gives
    the fields to set (the version itself is set by the job)."""

    collection: str
    version: int
    name: str
    upgrade: Upgrade


def _missing(defaults: dict[str, Any]) -> Upgrade:
    """Fill the fields of `defaults` that the document lacks."""

    def upgrade(store: Store, doc: dict[str, Any], memo: dict[Any, Any]) -> dict[str, Any]:
        return {k: v for k, v in defaults.items() if k not in doc}

    return upgrade


def _order_fields(store: Store, doc: dict[str, Any], memo: dict[Any, Any]) -> dict[str, Any]:
    """An order gets `ordered_at` (for the date sets) and, when its project has a single
    connection that downloads orders, that connection as the one that stored it."""
    fields: dict[str, Any] = {}
    if "ordered_at" not in doc:
        fields["ordered_at"] = order_time(doc.get("data") or {}, int(doc.get("created_at") or 0))
    if "connection_id" not in doc:
        slot = ("order source", doc.get("project_id"))
        if slot not in memo:
            memo[slot] = _single_order_source(store, doc.get("project_id"))
        fields["connection_id"] = memo[slot]
    return fields


def _single_order_source(store: Store, project_id: Any) -> str | None:
    sources = []
    for connection in store.connections.find({"project_id": project_id}):
        try:
            tasks = {t.name for t in get_connector(connection["connector"]).tasks}
        except UnknownConnector:
            continue
        if ORDER_SOURCE_TASK in tasks:
            sources.append(connection["_id"])
    return sources[0] if len(sources) == 1 else None


def _packed_index(store: Store, doc: dict[str, Any], memo: dict[Any, Any]) -> dict[str, Any]:
    """A record index bucket gets its entries packed; readers take either shape."""
    from core.pipeline.index import entries_of, pack  # core.pipeline imports this module

    return {} if "packed" in doc else {"packed": pack(entries_of(doc))}


_STAMP = _missing({})
STEPS: list[Step] = [
    Step(
        "projects",
        0,
        "stamp, fill defaults",
        _missing(
            {
                "paused": False,
                "rules": [],
                "alerts": [],
                "shrink_threshold_pct": 50,
                **RECORD_SET_DEFAULTS,
            }
        ),
    ),
    Step(
        "connections",
        0,
        "stamp, fill defaults",
        _missing(
            {
                "paused": False,
                "order": 0,
                "read_only_fields": [],
                "auto_absorb": True,
                "real_deletes": False,
                "max_identical_failures": 5,
                "rules": [],
                "currency": None,
                "price_margin": None,
                "defaults": {},
                "category_field": None,
            }
        ),
    ),
    Step("jobs", 0, "stamp, fill defaults", _missing({"enabled": True, "coalesced_fires": 0})),
    Step(
        "changes",
        0,
        "stamp, fill defaults",
        _missing({"approved": False, "attempts": 0, "identical_failures": 0}),
    ),
    Step("documents", 0, "stamp, fill ordered_at and connection_id", _order_fields),
    Step("record_index", 1, "pack entries", _packed_index),
    *(
        Step(name, 0, "stamp", _STAMP)
        for name in COLLECTIONS
        if name not in ("projects", "connections", "jobs", "changes", "documents")
    ),
]


@dataclass
class IntegrityReport:
    """What the job found and changed: per collection, documents scanned (below the current
    version) and upgraded, and per step how many documents it upgraded."""

    dry_run: bool
    collections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def count(self, collection: str, name: str, amount: int = 1) -> None:
        entry = self.collections.setdefault(collection, {"outdated": 0, "upgraded": 0, "steps": {}})
        if name in ("outdated", "upgraded"):
            entry[name] += amount
        else:
            entry["steps"][name] = entry["steps"].get(name, 0) + amount

    @property
    def upgraded(self) -> int:
        return sum(entry["upgraded"] for entry in self.collections.values())

    def counts(self) -> dict[str, int]:
        """Flat counts for a run's stage: `<collection>.upgraded`, `<collection>.<step>`."""
        flat: dict[str, int] = {"upgraded": self.upgraded}
        for name, entry in self.collections.items():
            flat[f"{name}.outdated"] = entry["outdated"]
            flat[f"{name}.upgraded"] = entry["upgraded"]
            for step, amount in entry["steps"].items():
                flat[f"{name}.{step}"] = amount
        return flat


def _steps_of(collection: str) -> dict[int, Step]:
    return {step.version: step for step in STEPS if step.collection == collection}


def _scope(store: Store, collection: str, project_id: str | None) -> dict[str, Any] | None:
    """The documents of `collection` that belong to the project (None: not the project's)."""
    if project_id is None:
        return {}
    if collection == "projects":
        return {"_id": project_id}
    if collection in ("tenants", "api_keys"):
        return None
    if collection == "task_state":
        ids = [c["_id"] for c in store.connections.find({"project_id": project_id}, {"_id": 1})]
        return {"connection_id": {"$in": ids}}
    return {"project_id": project_id}


def _outdated(store: Store, collection: str, scope: dict[str, Any]) -> Iterator[dict[str, Any]]:
    current = CURRENT[collection]
    query = {
        **scope,
        "$or": [{FIELD: {"$exists": False}}, {FIELD: None}, {FIELD: {"$lt": current}}],
    }
    yield from store.db[collection].find(query).sort("_id", 1)


def run_integrity(
    store: Store, *, project_id: str | None = None, dry_run: bool = False
) -> IntegrityReport:
    """Upgrade every outdated document (of one project, or of the whole database) and report
    the counts; with `dry_run`, only count what would be upgraded."""
    report = IntegrityReport(dry_run=dry_run)
    memo: dict[Any, Any] = {}
    for collection in COLLECTIONS:
        scope = _scope(store, collection, project_id)
        if scope is None:
            continue
        steps = _steps_of(collection)
        current = CURRENT[collection]
        writes: list[Any] = []
        for doc in _outdated(store, collection, scope):
            report.count(collection, "outdated")
            version = version_of(doc)
            fields: dict[str, Any] = {}
            while version < current:
                step = steps.get(version)
                if step is None:
                    raise LookupError(f"no migration step for {collection} v{version}")
                fields.update(step.upgrade(store, {**doc, **fields}, memo))
                report.count(collection, f"v{version}->v{version + 1} {step.name}")
                version += 1
            fields[FIELD] = current
            report.count(collection, "upgraded")
            writes.append(UpdateOne({"_id": doc["_id"]}, {"$set": fields}))
            if len(writes) >= BATCH:
                _flush(store, collection, writes, dry_run)
        _flush(store, collection, writes, dry_run)
    return report


def _flush(store: Store, collection: str, writes: list[Any], dry_run: bool) -> None:
    if writes and not dry_run:
        store.db[collection].bulk_write(writes, ordered=False)
    writes.clear()


def describe(report: IntegrityReport) -> list[str]:
    """The report as lines for a person: one per collection that had outdated documents."""
    verb = "would upgrade" if report.dry_run else "upgraded"
    lines = []
    for name, entry in report.collections.items():
        steps = ", ".join(f"{step}: {count}" for step, count in entry["steps"].items())
        lines.append(f"{name}: {verb} {entry['upgraded']} of {entry['outdated']} ({steps})")
    total = f"{verb} {report.upgraded} document(s)"
    return [*lines, total if lines else "every document is at its current schema version"]
