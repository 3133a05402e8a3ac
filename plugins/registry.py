"""Connectors are found through the `syncfarm.connectors` entry-point group, lazily.

Built-in connectors register in syncfarm's own setup.cfg exactly like third-party ones, so a
package that declares the entry point is usable after `pip install` alone.
`SYNCFARM_CONNECTORS` (comma-separated names) restricts which connectors may load.
"""

from __future__ import annotations

import importlib
import os
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from core.errors import Invalid
from plugins.base import Connector

GROUP = "syncfarm.connectors"


class UnknownConnector(Invalid):
    """A connection names a connector that is not installed (or not allowed)."""


def _allowed() -> set[str] | None:
    raw = os.environ.get("SYNCFARM_CONNECTORS", "").strip()
    return {n.strip() for n in raw.split(",") if n.strip()} if raw else None


def _entry_points() -> dict[str, EntryPoint]:
    allowed = _allowed()
    return {
        ep.name: ep for ep in entry_points(group=GROUP) if allowed is None or ep.name in allowed
    }


def available() -> list[str]:
    return sorted(_entry_points())


@cache
def _load(name: str, value: str) -> type[Connector]:
    cls = EntryPoint(name=name, value=value, group=GROUP).load()
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise UnknownConnector(f"entry point {name!r} ({value}) is not a syncfarm Connector")
    return cls


def get_connector(name: str) -> type[Connector]:
    """The connector class registered as `name`; the error names it and lists what exists."""
    ep = _entry_points().get(name)
    if ep is None:
        importlib.invalidate_caches()  # a package installed since this process started
        ep = _entry_points().get(name)
    if ep is None:
        known = ", ".join(available()) or "none"
        raise UnknownConnector(
            f"unknown connector {name!r}; installed connectors: {known}",
            errors={"connector": [f"unknown connector {name!r}"]},
        )
    return _load(ep.name, ep.value)
