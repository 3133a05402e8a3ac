"""Feed documents: Amazon's schema accepts every one, and they hold at most 10,000 messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from plugins.amazon.documents import SCHEMA
from plugins.base import Change
from tests.conftest import FIXTURES
from tests.plugins.fake_spapi import (  # noqa: F401
    FakeSpApi,
    Ledger,
    fake_spapi,
    fresh_amazon_caches,
    insert,
    make_channel,
    update,
)

AMAZON_SCHEMA = FIXTURES / "amazon-listings-feed-schema-v2.json"
AMAZON_EXAMPLE = FIXTURES / "amazon-listings-feed-schema-v2.example.json"


@pytest.fixture
def amazons_validator() -> Draft7Validator:
    schema = json.loads(AMAZON_SCHEMA.read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def test_amazons_own_example_feed_passes_the_validator(
    amazons_validator: Draft7Validator,
) -> None:
    example = json.loads(AMAZON_EXAMPLE.read_text())
    assert list(amazons_validator.iter_errors(example)) == []
    broken = {**example, "messages": [{"messageId": 1, "sku": "X", "operationType": "UPDATE"}]}
    assert list(amazons_validator.iter_errors(broken)) != []


def test_the_channel_checks_against_amazons_schema_unchanged() -> None:
    assert SCHEMA.read_bytes() == AMAZON_SCHEMA.read_bytes()


def test_every_uploaded_document_validates_against_amazons_schema(
    fake: FakeSpApi, tmp_path: Path, amazons_validator: Draft7Validator
) -> None:
    ledger = Ledger(make_channel(fake.url, tmp_path, state={}))
    ledger.send(
        [
            insert("A-1", title="Rotes Hemd", price="19,90", stock=3),
            insert("A-2", title="Blue shirt", price=21.5, stock="4"),
            insert("A-3", title="Green shirt", price="9.99", stock=0),
        ]
    )
    ledger.collect()
    ledger.send(
        [
            update("A-1", title="Rotes Hemd", price="19,90", stock=2),
            update("A-2", title="Blue shirt, long", price=21.5, stock=4),
            Change("A-3", "delist", None, None),
            Change("A-4", "delete", None, None),
        ]
    )
    documents = fake.documents()
    assert len(documents) == 2
    for doc in documents:
        assert list(amazons_validator.iter_errors(doc)) == []
        assert doc["header"] == {
            "sellerId": "A2TESTSELLER",
            "version": "2.0",
            "issueLocale": "de_DE",
        }


def test_a_record_without_a_price_fails_alone_naming_the_field(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    results = Ledger(make_channel(fake.url, tmp_path)).send(
        [
            insert("A-1", title="Shirt", price="19.90", stock=1),
            insert("A-2", title="No price", stock=1),
        ]
    )
    failed = next(r for r in results if r.key == "A-2")
    assert (failed.ok, failed.code) == (False, "SYNCFARM_INVALID")
    assert "'price'" in (failed.message or "")
    assert [m["sku"] for m in fake.messages()] == ["A-1"]


@pytest.mark.parametrize(
    ("record", "named"),
    [
        ({"title": "Shirt", "price": "cheap", "stock": 1}, "'price'"),
        ({"title": "Shirt", "price": "1.00", "stock": "many"}, "'stock'"),
        ({"title": "Shirt", "price": "1.00", "stock": 1.5}, "'stock'"),
        ({"title": "Shirt", "price": "-1", "stock": 1}, "'price'"),
        ({"title": "Shirt", "price": "1,234", "stock": 1}, "'price'"),  # 1.234 or 1234?
    ],
)
def test_a_value_that_is_not_a_price_or_quantity_fails_alone(
    fake: FakeSpApi, tmp_path: Path, record: dict[str, object], named: str
) -> None:
    results = Ledger(make_channel(fake.url, tmp_path)).send(
        [Change("A-1", "insert", record, "h"), insert("A-2", title="Fine", price=1, stock=1)]
    )
    by_key = {r.key: r for r in results}
    assert by_key["A-1"].code == "SYNCFARM_INVALID"
    assert named in (by_key["A-1"].message or "")
    assert by_key["A-2"].ok is None


def test_a_message_amazons_schema_refuses_fails_alone_with_the_schemas_reason(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    channel = make_channel(
        fake.url, tmp_path, attribute_map={"title": "item_name"}, required_fields=[]
    )
    results = Ledger(channel).send(
        [
            Change("A-1", "insert", {"colour": "red"}, "h"),  # nothing mapped: no attributes
            Change("", "delete", None, None),  # an empty SKU
            insert("A-3", title="Fine"),
        ]
    )
    by_key = {r.key: r for r in results}
    assert by_key["A-1"].code == "SYNCFARM_INVALID"
    assert "attributes" in (by_key["A-1"].message or "")
    assert by_key[""].code == "SYNCFARM_INVALID"
    assert "sku" in (by_key[""].message or "")
    assert by_key["A-3"].ok is None
    assert [m["sku"] for m in fake.messages()] == ["A-3"]


def test_more_than_10000_changes_are_split_into_several_feeds(
    fake: FakeSpApi, tmp_path: Path, amazons_validator: Draft7Validator
) -> None:
    changes = [insert(f"S-{n:05}", title=f"Item {n}", price="1.00", stock=n) for n in range(10_001)]
    results = Ledger(make_channel(fake.url, tmp_path)).send(changes)
    documents = fake.documents()
    assert [len(doc["messages"]) for doc in documents] == [10_000, 1]
    for doc in documents:
        assert list(amazons_validator.iter_errors(doc)) == []
    assert sorted(r.key for r in results) == sorted(c.key for c in changes)
    tickets = {r.ticket for r in results}
    assert tickets == set(fake.feeds)
    assert documents[1]["messages"][0] == {**documents[1]["messages"][0], "messageId": 1}


def test_max_messages_caps_each_document(fake: FakeSpApi, tmp_path: Path) -> None:
    changes = [insert(f"S-{n}", title="T", price=1, stock=1) for n in range(5)]
    Ledger(make_channel(fake.url, tmp_path, max_messages=2)).send(changes)
    assert [len(doc["messages"]) for doc in fake.documents()] == [2, 2, 1]
    assert [m["messageId"] for m in fake.documents()[0]["messages"]] == [1, 2]
