"""The connector contract.

A connector is a small class that declares its name, a marshmallow schema for its settings and
what it provides: a source (`read` yields records), a channel (`write` receives the project's
records and reports what it did). The framework owns everything else: scheduling, locking,
hashing, bookkeeping. Connectors never import Flask or Dramatiq.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from marshmallow import Schema

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


class Connector:
    """Base of every connector. Subclasses set `name`, `settings_schema` and override
    `read` (a source) and/or `write` (a channel)."""

    name: ClassVar[str]
    settings_schema: ClassVar[type[Schema]]
    #: roles a connection of this connector may take: source, secondary, combined, channel
    roles: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, settings: dict[str, Any], context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context

    @property
    def key_field(self) -> str:
        """The record field that identifies a record (sources)."""
        return str(self.settings.get("key", "sku"))

    def read(self) -> Iterator[Record]:
        """Yield the source's records, one dict each (a stream: never the whole feed at once)."""
        raise ConnectorError(f"connector {self.name!r} is not a source")

    def write(self, records: Iterable[Record]) -> dict[str, int]:
        """Send the project's records to the channel; return counts of what was done."""
        raise ConnectorError(f"connector {self.name!r} is not a channel")

    @classmethod
    def public_urls(cls, connection: dict[str, Any], base_url: str) -> dict[str, str]:
        """URLs the web process serves for a connection (e.g. `export_url` of a file channel)."""
        return {}
