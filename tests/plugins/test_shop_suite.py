"""The shared connector suite's checks, run against the shop connector (registered here as
its entry point will be)."""

from __future__ import annotations

import pytest

from plugins.base import Connector
from plugins.registry import get_connector
from tests.plugins.fakes import add_connectors
from tests.plugins.test_connector_suite import (  # noqa: F401  (collected here, for this class)
    test_a_file_channel_publishes_every_record_it_is_given,
    test_a_source_yields_json_ready_records_with_unique_keys,
    test_an_api_channel_answers_once_for_every_change,
    test_its_example_settings_load_and_unknown_settings_are_refused,
    test_its_tasks_name_follow_ups_it_has_and_run_on_an_empty_catalog,
    test_the_connector_declares_a_name_roles_and_what_it_provides,
)


@pytest.fixture
def connector_class(monkeypatch: pytest.MonkeyPatch) -> type[Connector]:
    add_connectors(monkeypatch, {"shop": "plugins.shop:ShopConnector"})
    return get_connector("shop")
