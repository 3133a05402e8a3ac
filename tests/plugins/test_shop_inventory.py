"""Inventory upload through the real pipeline: a project whose feed is the catalog and whose
API channel is the (fake) shop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.store import Store
from tests.core.shop import Shop
from tests.plugins.fake_shop import FakeShop, fake_shop, shop_server, shop_settings  # noqa: F401
from tests.plugins.fakes import add_connectors

HEADER = "sku,title,price,stock"
BATCH = "/wp-json/wc/v3/products/batch"


@pytest.fixture
def shop(
    store: Store, settings: Settings, csv_feed: Path, broker: Any, monkeypatch: pytest.MonkeyPatch
) -> Shop:
    add_connectors(monkeypatch, {"shop": "plugins.shop:ShopConnector"})
    project = Shop(store, settings, csv_feed, broker, monkeypatch)
    project.write_feed(["A-1,Red shirt,19.90,5", "A-2,Blue shirt,21.50,7"], header=HEADER)
    return project


@pytest.fixture
def catalog(shop_api: FakeShop) -> dict[str, dict[str, Any]]:
    simple = shop_api.add_product("A-1", stock=0)
    parent = shop_api.add_product("SHIRT", kind="variable")
    variation = shop_api.add_product("A-2", stock=0, parent=parent["id"])
    return {"A-1": simple, "SHIRT": parent, "A-2": variation}


def connect(shop: Shop, fake: FakeShop, **extra: Any) -> dict[str, Any]:
    settings = shop_settings(fake, retries=0, **extra)
    return shop.connect(
        {"connector": "shop", "role": "channel", "name": "woo", "settings": settings}
    )


def test_inventory_upload_sends_stock_of_changed_records_by_batch_and_fails_unknown_skus(
    shop: Shop, shop_api: FakeShop, catalog: dict[str, dict[str, Any]]
) -> None:
    shop.write_feed(["A-1,Red shirt,19.90,5", "A-2,Blue shirt,21.50,7", "Z-9,Odd,1,1"], HEADER)
    woo = connect(shop, shop_api)
    run = shop.run()
    assert shop.stage(run, "send:woo") == {
        "sent": 3,
        "acknowledged": 2,
        "failed": 1,
        "stopped": 0,
        "submitted": 0,
    }
    assert shop_api.products[catalog["A-1"]["id"]]["stock_quantity"] == 5
    assert shop_api.products[catalog["A-2"]["id"]]["stock_quantity"] == 7
    [simple] = shop_api.sent("POST", BATCH)
    assert simple.body == {
        "update": [{"id": catalog["A-1"]["id"], "manage_stock": True, "stock_quantity": 5}]
    }
    assert len(shop_api.sent("POST", f"/wp-json/wc/v3/products/{catalog['SHIRT']['id']}/*")) == 1
    failed = shop.changes(woo, "failed")["Z-9"]["last_error"]
    assert failed == {
        "code": "unknown_sku",
        "message": "no product or variation in the shop has SKU 'Z-9'",
    }

    shop_api.requests.clear()
    shop.write_feed(["A-1,Red shirt,19.90,4", "A-2,Blue shirt,21.50,7", "Z-9,Odd,1,1"], HEADER)
    shop.run()
    [only] = shop_api.sent("POST", "/wp-json/wc/v3/products*")
    assert only.body["update"] == [
        {"id": catalog["A-1"]["id"], "manage_stock": True, "stock_quantity": 4}
    ]
    assert shop_api.sent("GET", "/wp-json/wc/v3/products") == []  # the SKU was remembered


def test_a_record_gone_from_the_catalog_sets_its_stock_to_zero_in_the_shop(
    shop: Shop, shop_api: FakeShop, catalog: dict[str, dict[str, Any]]
) -> None:
    connect(shop, shop_api)
    shop.run()
    shop.write_feed(["A-1,Red shirt,19.90,5"], HEADER)
    run = shop.run()
    assert shop.stage(run, "send:woo")["acknowledged"] == 1
    assert shop_api.products[catalog["A-2"]["id"]]["stock_quantity"] == 0


def test_a_product_deleted_in_the_shop_fails_with_its_code_and_is_looked_up_afresh(
    shop: Shop, shop_api: FakeShop, catalog: dict[str, dict[str, Any]]
) -> None:
    woo = connect(shop, shop_api)
    shop.run()
    del shop_api.products[catalog["A-1"]["id"]]
    shop.write_feed(["A-1,Red shirt,19.90,3", "A-2,Blue shirt,21.50,7"], HEADER)
    shop.run()
    error = shop.changes(woo, "failed")["A-1"]["last_error"]
    assert error["code"] == "woocommerce_rest_product_invalid_id"

    replacement = shop_api.add_product("A-1", stock=0)
    shop.store.changes.update_many({"state": "failed"}, {"$set": {"next_attempt_at": 0}})
    shop.run()
    assert shop_api.products[replacement["id"]]["stock_quantity"] == 3
    assert shop.changes(woo, "failed") == {}


def test_a_stock_that_is_not_a_quantity_fails_only_its_record(
    shop: Shop, shop_api: FakeShop, catalog: dict[str, dict[str, Any]]
) -> None:
    shop.write_feed(["A-1,Red shirt,19.90,lots", "A-2,Blue shirt,21.50,7.0"], HEADER)
    woo = connect(shop, shop_api)
    shop.run()
    error = shop.changes(woo, "failed")["A-1"]["last_error"]
    assert error == {
        "code": "invalid_value",
        "message": "the record's 'stock' is not a quantity: 'lots'",
    }
    assert shop_api.products[catalog["A-2"]["id"]]["stock_quantity"] == 7


def test_a_price_field_uploads_the_regular_price_with_the_stock(
    shop: Shop, shop_api: FakeShop, catalog: dict[str, dict[str, Any]]
) -> None:
    connect(shop, shop_api, price_field="price")
    shop.run()
    assert shop_api.products[catalog["A-1"]["id"]]["regular_price"] == "19.90"
