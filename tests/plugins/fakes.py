"""Connectors for tests, made known through the real registry (as entry points)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from marshmallow import Schema, fields

from plugins.base import Change, ChangeResult, Connector, Task, TaskContext, TaskResult


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


class DeferredChannel(Connector):
    """An API channel whose platform accepts changes under a ticket and answers later, and
    rejects A-2 then."""

    name = "deferred"
    settings_schema = RecordingSettings
    roles = frozenset({"channel"})
    channel_kind = "api"
    tasks = (Task("deferred.results"),)
    results_task = "deferred.results"
    results_poll_s = 5.0
    ready: ClassVar[bool] = False

    def send(self, changes: Iterable[Change]) -> Iterator[ChangeResult]:
        for change in changes:
            yield ChangeResult(change.key, None, ticket="ticket-1")

    def run_task(self, name: str, ctx: TaskContext) -> TaskResult:
        tickets = ctx.submissions()
        if not type(self).ready:
            return TaskResult(count=len(tickets))
        ctx.report(
            ChangeResult(
                key,
                key != "A-2",
                "8541" if key == "A-2" else None,
                "conflicts with catalog" if key == "A-2" else None,
            )
            for keys in tickets.values()
            for key in keys
        )
        return TaskResult(count=0)


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
    DeferredChannel.ready = False
