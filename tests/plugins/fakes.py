"""Connectors for tests, made known through the real registry (as entry points)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from marshmallow import Schema, fields

from plugins.base import Change, ChangeResult, Connector


class RecordingSettings(Schema):
    fail_keys = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)


class RecordingChannel(Connector):
    """An API channel that keeps what it was sent and fails the keys it is told to, with the
    message given (as a marketplace would)."""

    name = "recording"
    settings_schema = RecordingSettings
    roles = frozenset({"channel"})
    channel_kind = "api"
    received: ClassVar[list[Change]] = []

    @classmethod
    def example_settings(cls, workdir: Path) -> dict[str, Any]:
        return {}

    def send(self, changes: Iterable[Change]) -> Iterator[ChangeResult]:
        for change in changes:
            type(self).received.append(change)
            problem = self.settings["fail_keys"].get(change.key)
            if problem:
                yield ChangeResult(change.key, False, "E42", problem)
            else:
                yield ChangeResult(change.key, True)


def add_connectors(monkeypatch: pytest.MonkeyPatch, connectors: dict[str, str]) -> None:
    """Register extra connectors (`name -> "module:Class"`) as if installed entry points."""
    from importlib.metadata import EntryPoint

    from plugins import registry

    real = registry._entry_points

    def with_extra() -> dict[str, EntryPoint]:
        found = real()
        for name, value in connectors.items():
            found[name] = EntryPoint(name=name, value=value, group=registry.GROUP)
        return found

    monkeypatch.setattr(registry, "_entry_points", with_extra)
    RecordingChannel.received = []
