"""One suite, the same checks generated for every installed connector (built-in or not)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError

from plugins.base import Change, Connector, ConnectorContext, TaskContext
from plugins.registry import available, get_connector

ROLES = {"source", "secondary", "combined", "channel"}
SAMPLE = [
    {"sku": "S-1", "title": "One", "price": "1.00"},
    {"sku": "S-2", "title": "Two", "price": "2.00"},
]


def connector_names() -> list[str]:
    return available()


@pytest.fixture(params=connector_names())
def connector_class(request: pytest.FixtureRequest) -> type[Connector]:
    return get_connector(request.param)


def _build(cls: type[Connector], tmp_path: Path) -> Connector:
    settings = cls.settings_schema().load(cls.example_settings(tmp_path))
    context = ConnectorContext(
        project_id="prj_suite",
        connection_id="con_suite",
        data_dir=tmp_path / "data",
        export_token="token",
    )
    return cls(settings, context)


def test_the_connector_declares_a_name_roles_and_what_it_provides(
    connector_class: type[Connector],
) -> None:
    assert connector_class.name in available()
    assert connector_class.roles and connector_class.roles <= ROLES
    provides_source = bool(connector_class.roles & {"source", "secondary", "combined"})
    provides_channel = connector_class.channel_kind in ("file", "api")
    assert provides_source or provides_channel or connector_class.tasks
    if connector_class.channel_kind is not None:
        assert "channel" in connector_class.roles


def test_its_example_settings_load_and_unknown_settings_are_refused(
    connector_class: type[Connector], tmp_path: Path
) -> None:
    schema = connector_class.settings_schema()
    schema.load(connector_class.example_settings(tmp_path))
    with pytest.raises(ValidationError) as refused:
        schema.load({**connector_class.example_settings(tmp_path), "no_such_setting": 1})
    assert "no_such_setting" in refused.value.messages


def test_a_source_yields_json_ready_records_with_unique_keys(
    connector_class: type[Connector], tmp_path: Path
) -> None:
    if not connector_class.roles & {"source", "secondary", "combined"}:
        pytest.skip("not a source")
    connector = _build(connector_class, tmp_path)
    records = list(connector.read())
    assert records, "the example source yields no record"
    keys = [str(r[connector.key_field]) for r in records]
    assert len(keys) == len(set(keys))
    json.dumps(records)


def test_a_file_channel_publishes_every_record_it_is_given(
    connector_class: type[Connector], tmp_path: Path
) -> None:
    if connector_class.channel_kind != "file":
        pytest.skip("not a file channel")
    counts = _build(connector_class, tmp_path).write(iter(SAMPLE))
    assert counts["written"] == len(SAMPLE)
    assert all(isinstance(v, int) for v in counts.values())


def test_an_api_channel_answers_once_for_every_change(
    connector_class: type[Connector], tmp_path: Path
) -> None:
    if connector_class.channel_kind != "api":
        pytest.skip("not an API channel")
    changes = [Change(r["sku"], "insert", r, "h") for r in SAMPLE]
    changes.append(Change("S-0", "delist", None, None))
    results = list(_build(connector_class, tmp_path).send(changes))
    assert sorted(r.key for r in results) == sorted(c.key for c in changes)


def test_its_tasks_name_follow_ups_it_has_and_run_on_an_empty_catalog(
    connector_class: type[Connector], tmp_path: Path
) -> None:
    if not connector_class.tasks:
        pytest.skip("no tasks")
    names = {t.name for t in connector_class.tasks}
    assert all(t.follow_up in names for t in connector_class.tasks if t.follow_up)
    connector = _build(connector_class, tmp_path)
    state: dict[str, Any] = {}
    for task in connector_class.tasks:
        result = connector.run_task(task.name, TaskContext(records=lambda: iter(()), state=state))
        assert result.count == 0


def test_the_copy_of_the_external_fixtures_is_unchanged() -> None:
    """tests/fixtures/external must stay byte for byte what the other projects wrote."""
    from tests.conftest import FIXTURES

    kept = Path(__file__).resolve().parents[1] / "fixtures" / "external"
    for original in FIXTURES.iterdir():
        assert (kept / original.name).read_bytes() == original.read_bytes(), original.name
