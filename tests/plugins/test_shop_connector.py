"""The shop connector on its own, against the fake shop: the catalog it reads, how it
authenticates and retries, its settings and its offline snapshot."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError

from core.documents import ProjectDocuments
from core.errors import ConnectorError
from core.store import Store
from plugins.base import Change, ConnectorContext, TaskContext
from plugins.shop import ShopConnector, ShopSettings
from tests.plugins.fake_shop import (  # noqa: F401
    CONSUMER_SECRET,
    FakeShop,
    fake_shop,
    shop_server,
    shop_settings,
)

ORDERS = "/wp-json/wc/v3/orders"


def build(settings: dict[str, Any], tmp_path: Path) -> ShopConnector:
    context = ConnectorContext(project_id="prj", connection_id="con", data_dir=tmp_path)
    return ShopConnector(ShopSettings().load(settings), context, sleep=lambda s: None)


def task_context(store: Store, state: dict[str, Any]) -> TaskContext:
    return TaskContext(
        records=lambda: iter(()), state=state, documents=partial(ProjectDocuments, store, "prj")
    )


def test_the_catalog_is_read_page_by_page_with_variations_and_keyed_by_sku(
    shop_api: FakeShop, tmp_path: Path
) -> None:
    for n in range(3):
        shop_api.add_product(f"S-{n}", stock=n)
    parent = shop_api.add_product("SHIRT", kind="variable")
    shop_api.add_product("SHIRT-S", stock=4, parent=parent["id"])
    shop_api.add_product("SHIRT-M", stock=6, parent=parent["id"])
    shop_api.add_product("")  # no SKU: nothing identifies it elsewhere
    records = list(build(shop_settings(shop_api, per_page=2), tmp_path).read())
    assert [r["sku"] for r in records] == ["S-0", "S-1", "S-2", "SHIRT", "SHIRT-S", "SHIRT-M"]
    variation = records[4]
    assert variation["title"] == "Product SHIRT - S" and variation["stock"] == 4
    assert variation["parent_id"] == parent["id"] and variation["type"] == "variation"
    pages = [r.query["page"] for r in shop_api.sent("GET", "/wp-json/wc/v3/products")]
    assert pages == ["1", "2", "3"]


def test_wrong_keys_fail_with_a_message_to_check_the_credentials_and_no_secret(
    shop_api: FakeShop, tmp_path: Path
) -> None:
    connector = build(shop_settings(shop_api, consumer_secret="cs_wrong"), tmp_path)
    with pytest.raises(ConnectorError) as refused:
        list(connector.read())
    message = refused.value.message
    assert "the shop (127.0.0.1:" in message and "HTTP 401" in message
    assert "check the connection's credentials" in message and "cs_wrong" not in message


def test_keys_in_the_query_authenticate_when_a_server_drops_the_authorization_header(
    shop_api: FakeShop, tmp_path: Path
) -> None:
    shop_api.add_product("S-1")
    connector = build(shop_settings(shop_api, auth_in="query"), tmp_path)
    assert [r["sku"] for r in connector.read()] == ["S-1"]
    [request] = shop_api.requests
    assert request.query["consumer_secret"] == CONSUMER_SECRET
    assert "Authorization" not in request.headers


def test_a_500_and_a_dropped_connection_are_retried_and_the_download_completes(
    shop_api: FakeShop, store: Store, tmp_path: Path
) -> None:
    for _ in range(5):
        shop_api.add_order()
    shop_api.fail("GET", ORDERS, skip=1)
    shop_api.fail("GET", ORDERS, skip=1, drop=True)
    connector = build(shop_settings(shop_api, per_page=2, retries=2), tmp_path)
    result = connector.run_task("orders.download", task_context(store, {}))
    assert result.count == 5
    assert ProjectDocuments(store, "prj", "orders").count() == 5
    assert [f.times for f in shop_api.failures] == [0, 0]  # both failures were met


def test_the_first_download_starts_at_orders_since_and_later_ones_at_the_cursor(
    shop_api: FakeShop, store: Store, tmp_path: Path
) -> None:
    shop_api.add_order()
    connector = build(shop_settings(shop_api, orders_since="2024-05-01T09:00:00"), tmp_path)
    state: dict[str, Any] = {}
    connector.run_task("orders.download", task_context(store, state))
    connector.run_task("orders.download", task_context(store, state))
    asked = [r.query["modified_after"] for r in shop_api.sent("GET", ORDERS)]
    assert asked == ["2024-05-01T09:00:00", "2024-05-01T09:56:00"]


def test_a_shipment_the_shop_refuses_does_not_stop_the_others(
    shop_api: FakeShop, store: Store, tmp_path: Path
) -> None:
    kept, gone = shop_api.add_order(), shop_api.add_order()
    connector = build(shop_settings(shop_api), tmp_path)
    context = task_context(store, {})
    connector.run_task("orders.download", context)
    orders = ProjectDocuments(store, "prj", "orders")
    for order in (gone, kept):
        orders.mark(str(order["id"]), shipment={"carrier": "DHL", "tracking": "T1"})
    del shop_api.orders[gone["id"]]
    with pytest.raises(ConnectorError) as failed:
        connector.run_task("shipments.upload", context)
    assert f"order {gone['id']}: the shop" in failed.value.message
    assert "woocommerce_rest_shop_order_invalid_id" in failed.value.message
    assert shop_api.orders[kept["id"]]["status"] == "completed"
    assert "shipment_uploaded" in (orders.get(str(kept["id"])) or {})["marks"]


def test_a_shop_snapshot_is_read_offline_and_refuses_to_write(tmp_path: Path) -> None:
    connector = build(ShopConnector.example_settings(tmp_path), tmp_path)
    assert [r["sku"] for r in connector.read()] == ["EX-1", "EX-2"]
    results = list(
        connector.send(
            [
                Change("EX-1", "update", {"sku": "EX-1", "stock": "2"}, "h"),
                Change("X", "delist", None, None),
            ]
        )
    )
    assert [(r.key, r.ok, r.code) for r in results] == [
        ("X", False, "unknown_sku"),
        ("EX-1", False, "snapshot_read_only"),
    ]


def test_a_real_shop_needs_both_keys_and_an_http_address(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as refused:
        ShopSettings().load({"base_url": "https://shop.example", "consumer_key": "ck"})
    assert refused.value.messages == {"consumer_secret": ["required to call the shop's REST API"]}
    with pytest.raises(ValidationError) as refused:
        ShopSettings().load({"base_url": "ftp://shop.example"})
    assert "base_url" in refused.value.messages
