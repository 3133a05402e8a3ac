"""The connector contract.

A connector is a small class that declares its name, a marshmallow schema for its settings and
what it provides; the framework owns everything else (scheduling, locking, hashing, change
detection, bookkeeping). Connectors never import Flask or Dramatiq. A connector provides any of:

- a **source**: `read()` yields records, one dict each, as a stream;
- a **file channel**: `write(records)` receives the project's whole catalog (after rules) and
  publishes it, e.g. as a file that `web` serves; one that can republish only what changed
  overrides `publish(catalog)`, which gets the catalog's record hashes and reads the views it
  needs;
- an **API channel**: `send(changes)` receives pending changes and yields one `ChangeResult`
  per change, so each record is acknowledged or fails on its own;
- **tasks**: `run_task(name, ctx)` for each declared `Task`; a task with a `follow_up` is a
  check stage: it returns how much work there is, and the follow-up runs only when that is
  above zero.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from marshmallow import Schema, ValidationError

from core.errors import ConnectorError

Record = dict[str, Any]


@dataclass
class ConnectorContext:
    """What a connector may know about where it runs."""

    project_id: str
    connection_id: str
    data_dir: Path
    http_timeout_s: float = 60.0
    export_token: str | None = None
    progress: Callable[[int, int | None], None] = field(default=lambda done, total: None)
    #: a persistent key/value store of this connection, kept between runs
    state: MutableMapping[str, Any] | None = None
    #: Redis, for limits shared by every worker (e.g. a platform's rate limits)
    redis_url: str | None = None


@dataclass(frozen=True)
class CatalogDelta:
    """What one commit changed: the catalog at generation `before`, with `changed` (key →
    new content hash, inserted or updated) and without `deleted`, is the catalog at `after`.
    A generation names one state of a project's records (see `Catalog.generation`)."""

    before: str | None
    after: str | None
    changed: Mapping[str, int]
    deleted: Sequence[str]


class RawItems(Protocol):
    """A source's items as the bytes its feed holds them in, in feed order.

    Importing a feed that mostly did not change can then skip parsing and hashing the items
    whose bytes are those of the previous import: `fingerprint` names everything besides an
    item's bytes that decides its record (the format, the settings that shape records, the
    header line or the document around the items…), so an item with the same bytes under the
    same fingerprint is the same record.
    """

    fingerprint: str

    def __iter__(self) -> Iterator[tuple[bytes, int]]:
        """(item bytes, where: the line or item number `parse` names in its errors)."""
        ...

    def parse(self, raw: bytes, where: int) -> Record | None:
        """The record `Connector.read` yields for this item, with the same checks and errors;
        None for an item `read` skips (e.g. a blank line)."""
        ...


class Catalog(Protocol):
    """The project's catalog as one file channel sees it, for `Connector.publish`."""

    #: keys of records the channel does not get yet (new records waiting for approval)
    held_back: set[str]
    #: what besides the records decides the views (the project's and channel's rules)
    rules_fingerprint: str

    def hashes(self) -> Mapping[str, int] | None:
        """Every record's key and content hash (64 bits); None when not known for sure."""
        ...

    def views(self, keys: Sequence[str] | None = None) -> Iterator[tuple[str, int, Record | None]]:
        """(key, content hash, view) of these records, or of every record in key order; the
        view is None when the channel's rules leave the record out."""
        ...

    def generation(self) -> str | None:
        """The generation of the records as they stand (it moves with every commit that
        changes them); None when not known for sure (a commit was cut short)."""
        ...

    def delta(self) -> CatalogDelta | None:
        """What this run's commit changed, when it is known; a channel whose last
        publication is at `delta.before` need look at nothing else."""
        ...


@dataclass(frozen=True)
class Change:
    """One pending change of one record for one channel."""

    key: str
    op: str  # "insert" | "update" | "delete"
    data: Record | None  # the record as the channel should see it; None for a delete
    hash: str | None


@dataclass(frozen=True)
class ChangeResult:
    """What the channel's platform said about one change; `code` and `message` are the
    platform's own, kept on the record's issue when `ok` is false. `ok=None` with a `ticket`
    means accepted for processing, result later: the channel's `results_task` reports it."""

    key: str
    ok: bool | None
    code: str | None = None
    message: str | None = None
    ticket: str | None = None


@dataclass(frozen=True)
class Task:
    """A connector task, e.g. `images.check`; `follow_up` names the task that does the work
    when this one (the check stage) reports a count above zero."""

    name: str
    follow_up: str | None = None
    description: str = ""


@dataclass
class TaskContext:
    """What a task may use: the project's records, its documents (orders…) and a small
    key/value state of its own (per connection, kept between runs). A channel's results task
    also gets `submissions` (ticket → keys of this channel's changes still being processed)
    and `report` (to acknowledge their outcome)."""

    records: Callable[[], Iterator[Record]]
    state: MutableMapping[str, Any]
    submissions: Callable[[], dict[str, list[str]]] = field(default=lambda: {})
    report: Callable[[Iterable[ChangeResult]], None] = field(default=lambda results: None)
    #: the project's documents of a kind ("orders", "shipments"…): idempotent upserts by key,
    #: and marks of what was done with each (see core/documents.py)
    documents: Callable[[str], Any] = field(default=lambda kind: None)


@dataclass
class TaskResult:
    count: int  # how much work there is (check stage) or was done
    counts: dict[str, int] = field(default_factory=dict)


class Connector:
    """Base of every connector. Subclasses set `name`, `settings_schema` and `roles`, and
    override what they provide. `example_settings` feeds the shared connector test suite."""

    name: ClassVar[str]
    settings_schema: ClassVar[type[Schema]]
    #: roles a connection of this connector may take: source, secondary, combined, channel
    roles: ClassVar[frozenset[str]] = frozenset()
    #: for channels: "file" (gets the whole catalog) or "api" (gets changes)
    channel_kind: ClassVar[str | None] = None
    tasks: ClassVar[tuple[Task, ...]] = ()
    #: for API channels whose platform answers later: the task that collects the results,
    #: run `results_poll_s` after a send that returned tickets, and again while it reports
    #: tickets still processing (no worker thread waits for the platform)
    results_task: ClassVar[str | None] = None
    results_poll_s: ClassVar[float] = 30.0
    #: for API channels: how many changes one `send` call gets at most
    send_batch: ClassVar[int] = 500

    def __init__(
        self,
        settings: dict[str, Any],
        context: ConnectorContext,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`sleep` is how the connector waits (between retries…); tests pass one that does
        not."""
        self.settings = settings
        self.context = context
        self.sleep = sleep

    def loaded_settings(self) -> dict[str, Any]:
        """The settings loaded by `settings_schema`, with the defaults of keys added since the
        connection was saved; settings that no longer load fail the run, saying so."""
        try:
            loaded: dict[str, Any] = self.settings_schema().load(self.settings)
        except ValidationError as exc:
            raise ConnectorError(
                f"the {self.name} connection's settings are not valid: {exc.messages}; "
                "edit the connection"
            ) from None
        return loaded

    @property
    def key_field(self) -> str:
        """The record field that identifies a record (sources)."""
        return str(self.settings.get("key", "sku"))

    def read(self) -> Iterator[Record]:
        """Yield the source's records (a stream: never the whole feed at once)."""
        raise ConnectorError(f"connector {self.name!r} is not a source")

    def raw_items(self) -> AbstractContextManager[RawItems | None]:
        """A source that can hand its items over as bytes (see `RawItems`) returns them here,
        open while the context lasts; None (the default) when it cannot for these settings."""
        return nullcontext(None)

    def write(self, records: Iterable[Record]) -> dict[str, int]:
        """Publish the project's records (a file channel); return counts of what was done."""
        raise ConnectorError(f"connector {self.name!r} is not a file channel")

    def publish(self, catalog: Catalog) -> dict[str, int]:
        """Publish the catalog (a file channel): by default `write` of every view."""
        return self.write(
            view
            for key, _, view in catalog.views()
            if view is not None and key not in catalog.held_back
        )

    def published(self) -> bool:
        """A file channel: whether its publication (the file) is still there; when it is and
        nothing changed, the framework does not rewrite it."""
        return False

    def send(self, changes: Iterable[Change]) -> Iterator[ChangeResult]:
        """Send changes (an API channel), yielding one result per change."""
        raise ConnectorError(f"connector {self.name!r} is not an API channel")

    def run_task(self, name: str, ctx: TaskContext) -> TaskResult:
        raise ConnectorError(f"connector {self.name!r} has no task {name!r}")

    @classmethod
    def task(cls, name: str) -> Task | None:
        return next((t for t in cls.tasks if t.name == name), None)

    @classmethod
    def public_urls(cls, connection: dict[str, Any], base_url: str) -> dict[str, str]:
        """URLs the web process serves for a connection (e.g. `export_url` of a file channel)."""
        return {}

    @classmethod
    def example_settings(cls, workdir: Path) -> dict[str, Any]:
        """Settings that work offline, for the shared connector test suite; a source writes
        whatever sample data it needs under `workdir`."""
        raise NotImplementedError(f"connector {cls.name!r} gives no example settings")
