"""Which message each change becomes, and how record values look to Amazon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plugins.base import Change
from tests.plugins.fake_spapi import (  # noqa: F401
    CONFLICT,
    MARKETPLACE,
    FakeSpApi,
    Ledger,
    fake_spapi,
    fresh_amazon_caches,
    insert,
    make_channel,
    update,
)

STOCK_PATCH = {"op": "replace", "path": "/attributes/fulfillment_availability"}


def listed(fake: FakeSpApi, tmp_path: Path, **records: dict[str, Any]) -> Ledger:
    """A channel with state whose records Amazon has accepted."""
    ledger = Ledger(make_channel(fake.url, tmp_path, state={}))
    ledger.send([insert(key, **record) for key, record in records.items()])
    assert ledger.collect().count == 0
    return ledger


def last_messages(fake: FakeSpApi) -> dict[str, dict[str, Any]]:
    return {m["sku"]: m for m in fake.documents()[-1]["messages"]}


def test_a_new_record_is_sent_as_a_full_update(fake: FakeSpApi, tmp_path: Path) -> None:
    Ledger(make_channel(fake.url, tmp_path, state={})).send(
        [insert("A-1", title="Shirt", price="19.90", stock=3)]
    )
    message = last_messages(fake)["A-1"]
    assert message["operationType"] == "UPDATE"
    assert message["productType"] == "PRODUCT"
    assert message["requirements"] == "LISTING"
    assert set(message["attributes"]) == {
        "item_name",
        "purchasable_offer",
        "fulfillment_availability",
    }


def test_record_values_are_shaped_as_amazon_expects(fake: FakeSpApi, tmp_path: Path) -> None:
    Ledger(make_channel(fake.url, tmp_path, attribute_map=None)).send(
        [insert("A-1", title=" Rotes Hemd ", price="19,90", stock="-2")]
    )
    assert last_messages(fake)["A-1"]["attributes"] == {
        "item_name": [
            {"value": "Rotes Hemd", "language_tag": "de_DE", "marketplace_id": MARKETPLACE}
        ],
        "purchasable_offer": [
            {
                "currency": "EUR",
                "our_price": [{"schedule": [{"value_with_tax": 19.9}]}],
                "marketplace_id": MARKETPLACE,
            }
        ],
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}],
    }


def test_other_attributes_and_amazon_shaped_values_are_sent_too(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    channel = make_channel(
        fake.url,
        tmp_path,
        attribute_map={
            "title": "item_name",
            "price": "purchasable_offer",
            "bullets": "bullet_point",
            "ean": "externally_assigned_product_identifier",
            "condition": "condition_type",
        },
        required_fields=["title", "price"],
    )
    ean = [{"type": "ean", "value": "4006381333931", "marketplace_id": MARKETPLACE}]
    Ledger(channel).send(
        [
            insert(
                "A-1",
                title="T",
                price=1,
                stock=1,
                bullets=["Soft", "Warm"],
                ean=ean,
                condition="new_new",
            )
        ]
    )
    attributes = last_messages(fake)["A-1"]["attributes"]
    assert [b["value"] for b in attributes["bullet_point"]] == ["Soft", "Warm"]
    assert attributes["externally_assigned_product_identifier"] == ean
    assert attributes["condition_type"] == [{"value": "new_new", "marketplace_id": MARKETPLACE}]


def test_a_change_of_the_stock_alone_is_sent_as_a_small_patch(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    ledger = listed(fake, tmp_path, **{"A-1": {"title": "Shirt", "price": "19.90", "stock": 3}})
    results = ledger.send([update("A-1", title="Shirt", price="19.90", stock=7)])
    assert results[0].ok is None
    message = last_messages(fake)["A-1"]
    assert message["operationType"] == "PATCH"
    assert message["patches"] == [
        {**STOCK_PATCH, "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 7}]}
    ]


def test_a_change_of_anything_else_is_sent_as_a_full_update(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    ledger = listed(fake, tmp_path, **{"A-1": {"title": "Shirt", "price": "19.90", "stock": 3}})
    ledger.send([update("A-1", title="Shirt", price="17.90", stock=7)])
    assert last_messages(fake)["A-1"]["operationType"] == "UPDATE"


def test_a_stock_change_after_amazon_rejected_the_listing_is_sent_in_full(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    fake.rejections["A-1"] = [CONFLICT]
    ledger = listed(fake, tmp_path, **{"A-1": {"title": "Shirt", "price": "19.90", "stock": 3}})
    assert ledger.answered["A-1"].ok is False
    ledger.send([update("A-1", title="Shirt", price="19.90", stock=7)])
    assert last_messages(fake)["A-1"]["operationType"] == "UPDATE"


def test_a_stock_change_while_a_full_update_is_processing_is_sent_in_full(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    ledger = listed(fake, tmp_path, **{"A-1": {"title": "Shirt", "price": "19.90", "stock": 3}})
    fake.in_progress_polls = 99
    ledger.send([update("A-1", title="Shirt, long", price="19.90", stock=3)])
    ledger.send([update("A-1", title="Shirt", price="19.90", stock=5)])
    assert last_messages(fake)["A-1"]["operationType"] == "UPDATE"


def test_an_update_amazon_already_holds_is_acknowledged_without_a_feed(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    ledger = listed(fake, tmp_path, **{"A-1": {"title": "Shirt", "price": "19.90", "stock": 3}})
    feeds = len(fake.feeds)
    results = ledger.send([update("A-1", title="Shirt", price="19.90", stock=3, colour="red")])
    assert [(r.key, r.ok) for r in results] == [("A-1", True)]
    assert len(fake.feeds) == feeds


def test_without_a_state_every_update_is_sent_in_full(fake: FakeSpApi, tmp_path: Path) -> None:
    ledger = Ledger(make_channel(fake.url, tmp_path, state=None))
    ledger.send([insert("A-1", title="Shirt", price="19.90", stock=3)])
    ledger.collect()
    ledger.send([update("A-1", title="Shirt", price="19.90", stock=4)])
    assert last_messages(fake)["A-1"]["operationType"] == "UPDATE"


def test_a_delist_patches_the_quantity_to_zero_and_keeps_the_listing(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    ledger = listed(fake, tmp_path, **{"A-1": {"title": "Shirt", "price": "19.90", "stock": 3}})
    ledger.send([Change("A-1", "delist", None, None)])
    message = last_messages(fake)["A-1"]
    assert message["operationType"] == "PATCH"
    assert message["patches"] == [
        {**STOCK_PATCH, "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}]}
    ]
    ledger.collect()
    ledger.send([update("A-1", title="Shirt", price="19.90", stock=2)])
    assert last_messages(fake)["A-1"]["operationType"] == "PATCH"


def test_a_delete_is_sent_as_delete(fake: FakeSpApi, tmp_path: Path) -> None:
    ledger = listed(fake, tmp_path, **{"A-1": {"title": "Shirt", "price": "19.90", "stock": 3}})
    ledger.send([Change("A-1", "delete", None, None)])
    assert last_messages(fake)["A-1"] == {"messageId": 1, "sku": "A-1", "operationType": "DELETE"}
    ledger.collect()
    ledger.send([update("A-1", title="Shirt", price="19.90", stock=3)])  # listed again
    assert last_messages(fake)["A-1"]["operationType"] == "UPDATE"
