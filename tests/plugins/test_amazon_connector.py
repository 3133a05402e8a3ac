"""The Amazon channel as a connector and its settings (tests/plugins/test_connector_suite.py runs
the shared checks on it, as on every installed connector)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError

from plugins.amazon import AmazonChannel, AmazonSettings
from plugins.base import Change, ConnectorContext
from plugins.registry import available, get_connector
from tests.plugins.fake_spapi import fresh_amazon_caches  # noqa: F401

REQUIRED = {
    "seller_id": "A2SELLER",
    "marketplace_ids": ["A1PA6795UKMFR9"],
    "endpoint": "https://sellingpartnerapi-eu.amazon.com",
    "client_id": "amzn1.application-oa2-client.x",
    "client_secret": "secret",
    "refresh_token": "Atzr|x",
}


def test_the_channel_is_installed_as_amazon() -> None:
    if "amazon" not in available():
        pytest.skip("the entry point amazon = plugins.amazon:AmazonChannel is not installed yet")
    assert get_connector("amazon") is AmazonChannel


def test_the_channel_declares_its_results_task() -> None:
    assert AmazonChannel.name == "amazon"
    assert AmazonChannel.roles == frozenset({"channel"})
    assert AmazonChannel.channel_kind == "api"
    assert AmazonChannel.results_task == "amazon.results"
    assert AmazonChannel.task("amazon.results") is not None
    assert AmazonChannel.results_poll_s == 30.0


def test_settings_fill_in_amazons_defaults() -> None:
    loaded = AmazonSettings().load(REQUIRED)
    assert loaded["lwa_endpoint"] == "https://api.amazon.com/auth/o2/token"
    assert loaded["product_type"] == "PRODUCT"
    assert loaded["requirements"] == "LISTING"
    assert loaded["attribute_map"] == {
        "title": "item_name",
        "price": "purchasable_offer",
        "stock": "fulfillment_availability",
    }
    assert loaded["required_fields"] == ["title", "price", "stock"]
    assert loaded["stock_field"] == "stock"
    assert loaded["fulfillment_channel_code"] == "DEFAULT"
    assert (loaded["currency"], loaded["language_tag"], loaded["issue_locale"]) == (
        "EUR",
        "en_US",
        "en_US",
    )
    assert loaded["max_messages"] == 10_000
    assert loaded["rate_limits"] == {
        "createFeedDocument": {"rate_per_s": 0.0083, "burst": 15},
        "createFeed": {"rate_per_s": 0.0083, "burst": 15},
        "getFeed": {"rate_per_s": 2.0, "burst": 15},
        "getFeedDocument": {"rate_per_s": 0.0222, "burst": 10},
    }
    assert (loaded["max_wait_s"], loaded["retries"], loaded["dry_run"]) == (150.0, 3, False)


def test_loaded_settings_load_again_unchanged() -> None:
    loaded = AmazonSettings().load(REQUIRED)
    assert AmazonSettings().load(json.loads(json.dumps(loaded))) == loaded


def test_one_rate_limit_can_be_raised_alone() -> None:
    loaded = AmazonSettings().load(
        {**REQUIRED, "rate_limits": {"getFeed": {"rate_per_s": 10, "burst": 50}}}
    )
    assert loaded["rate_limits"]["getFeed"] == {"rate_per_s": 10.0, "burst": 50}
    assert loaded["rate_limits"]["createFeed"] == {"rate_per_s": 0.0083, "burst": 15}


def test_a_stock_field_renamed_moves_the_quantity_with_it() -> None:
    loaded = AmazonSettings().load({**REQUIRED, "stock_field": "qty"})
    assert loaded["attribute_map"]["qty"] == "fulfillment_availability"
    assert "stock" not in loaded["attribute_map"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"attribute_map": {"qty": "fulfillment_availability"}}, "attribute_map"),
        ({"attribute_map": {"stock": "item_name"}}, "attribute_map"),
        ({"attribute_map": {"title": "item_name", "name": "item_name"}}, "attribute_map"),
        ({"required_fields": ["ean"]}, "required_fields"),
        ({"max_messages": 10_001}, "max_messages"),
        ({"marketplace_ids": []}, "marketplace_ids"),
        ({"currency": "euro"}, "currency"),
    ],
)
def test_settings_that_cannot_work_are_refused_naming_the_field(
    extra: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        AmazonSettings().load({**REQUIRED, **extra})
    assert field in refused.value.messages


def test_the_credentials_are_marked_secret() -> None:
    fields = AmazonSettings().fields
    secret = {name for name, f in fields.items() if f.metadata.get("secret")}
    assert secret == {"client_id", "client_secret", "refresh_token"}


def test_the_example_settings_are_a_dry_run_that_keeps_the_documents(tmp_path: Path) -> None:
    settings = AmazonSettings().load(AmazonChannel.example_settings(tmp_path))
    context = ConnectorContext("prj", "con", data_dir=tmp_path / "data")
    channel = AmazonChannel(settings, context)
    changes = [
        Change("S-1", "insert", {"title": "One", "price": "1.00", "stock": 2}, "h"),
        Change("S-2", "insert", {"title": "Two"}, "h"),
    ]
    results = {r.key: r for r in channel.send(changes)}
    assert results["S-1"].code == "SYNCFARM_DRY_RUN"
    assert results["S-2"].code == "SYNCFARM_INVALID"
    kept = list((tmp_path / "data" / "amazon-dry-run" / "prj" / "con").glob("*.json"))
    assert [json.loads(p.read_text())["messages"][0]["sku"] for p in kept] == ["S-1"]
