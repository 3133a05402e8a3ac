"""The `feed` source on JSON: arrays, lists inside objects, JSON Lines, Shopify products, and
what broken JSON says."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from core.errors import ConnectorError
from tests.conftest import FIXTURES
from tests.plugins.feed_support import feed_connector, read_feed, write


def test_a_json_array_of_objects_is_read_with_numbers_and_nesting_kept(tmp_path: Path) -> None:
    url = write(
        tmp_path,
        "f.json",
        '[{"sku": "A-1", "price": 19.9, "stock": 3, "tags": ["a"], "size": {"w": 2}}]',
    )
    assert read_feed(tmp_path, url=url) == [
        {"sku": "A-1", "price": 19.9, "stock": 3, "tags": ["a"], "size": {"w": 2}}
    ]


def test_items_are_read_at_items_path(tmp_path: Path) -> None:
    url = write(
        tmp_path,
        "f.json",
        '{"meta": {"items": [{"x": 1}]}, "data": {"products": [{"sku": "A"}, {"sku": "B"}]}}',
    )
    records = read_feed(tmp_path, url=url, items_path="data.products")
    assert [r["sku"] for r in records] == ["A", "B"]


def test_without_items_path_the_shallowest_list_of_objects_is_read(tmp_path: Path) -> None:
    url = write(
        tmp_path,
        "f.json",
        '{"count": 2, "tags": ["x"], "deep": {"rows": [{"n": 1}]}, "items": [{"sku": "A"}]}',
    )
    assert read_feed(tmp_path, url=url) == [{"sku": "A"}]


def test_an_object_without_a_list_of_objects_asks_for_items_path(tmp_path: Path) -> None:
    url = write(tmp_path, "f.json", '{"sku": "A", "tags": ["x"]}')
    with pytest.raises(ConnectorError) as caught:
        read_feed(tmp_path, url=url)
    assert caught.value.message == (
        "the JSON feed is an object with no list of objects (top-level keys: sku, tags); set "
        "`items_path` to the dotted path of its list of items, e.g. data.products"
    )


def test_an_items_path_that_is_not_in_the_feed_is_named(tmp_path: Path) -> None:
    url = write(tmp_path, "f.json", '{"data": {"items": [{"sku": "A"}]}}')
    with pytest.raises(ConnectorError, match="has no list of items at 'data.products'"):
        read_feed(tmp_path, url=url, items_path="data.products")
    empty = write(tmp_path, "empty.json", '{"data": {"products": []}}')
    assert read_feed(tmp_path, url=empty, items_path="data.products") == []


def test_json_lines_are_read_skipping_blank_lines(tmp_path: Path) -> None:
    url = write(tmp_path, "f.jsonl", '{"sku": "A", "n": 1}\n\n{"sku": "B", "n": 2.5}\n')
    assert read_feed(tmp_path, url=url) == [{"sku": "A", "n": 1}, {"sku": "B", "n": 2.5}]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '[{"sku": "A"}, {"sku": "B"}, {"sku": "C", "ti',
            "the feed is not valid JSON in item 3: parse error: premature EOF",
        ),
        (
            '[{"sku": "A"} {"sku": "B"}]',
            "the feed is not valid JSON in item 2: parse error: after array element, I expect "
            '\',\' or \']\' near \'[{"sku": "A"} {"sku": "B"}]\'',
        ),
    ],
)
def test_invalid_json_names_the_item_it_broke_in(
    tmp_path: Path, content: str, message: str
) -> None:
    url = write(tmp_path, "f.json", content)
    with pytest.raises(ConnectorError) as caught:
        read_feed(tmp_path, url=url)
    assert caught.value.message.startswith(message)


def test_invalid_utf8_in_json_is_reported_with_the_item(tmp_path: Path) -> None:
    url = write(tmp_path, "f.json", b'[{"sku": "A"}, {"sku": "caf\xe9"}]')
    with pytest.raises(ConnectorError, match="in item 2: lexical error: invalid bytes in UTF8"):
        read_feed(tmp_path, url=url, encoding="utf-8")


def test_a_cp1252_json_feed_is_detected_and_recoded(tmp_path: Path) -> None:
    url = write(tmp_path, "f.json", '[{"sku": "A", "title": "caf\u00e9 5\u20ac"}]'.encode("cp1252"))
    assert read_feed(tmp_path, url=url) == [{"sku": "A", "title": "caf\u00e9 5\u20ac"}]


def test_an_invalid_json_line_names_its_line(tmp_path: Path) -> None:
    url = write(tmp_path, "f.jsonl", '{"sku": "A"}\n\n{"sku": "B",}\n')
    with pytest.raises(ConnectorError) as caught:
        read_feed(tmp_path, url=url)
    assert caught.value.message == (
        "line 3 is not valid JSON: Expecting property name enclosed in double quotes (column 13)"
    )


def test_an_item_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    url = write(tmp_path, "f.json", '[{"sku": "A"}, ["B"]]')
    with pytest.raises(ConnectorError, match="^item 2 of the JSON feed is a list, not an object$"):
        read_feed(tmp_path, url=url)


def test_a_json_item_without_its_key_names_the_item_and_its_fields(tmp_path: Path) -> None:
    url = write(tmp_path, "f.json", '[{"sku": "A"}, {"id": 7, "title": "x"}]')
    with pytest.raises(ConnectorError) as caught:
        read_feed(tmp_path, url=url)
    assert caught.value.message == (
        "item 2 has no key field 'sku' (fields: id, title); set `key` to the field that "
        "identifies a record"
    )
    blank = write(tmp_path, "blank.jsonl", '{"sku": "A"}\n{"sku": " "}\n')
    with pytest.raises(ConnectorError, match="^line 2 has an empty key 'sku'$"):
        read_feed(tmp_path, url=blank)


def test_a_large_json_feed_is_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("w") as out:
        out.write('{"products": [')
        out.write(",".join(json.dumps({"sku": f"S{n}", "title": "t" * 80}) for n in range(100_000)))
        out.write("]}")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = sum(1 for _ in feed_connector(tmp_path, url=str(path)).read())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 100_000
    assert peak < size / 10, f"peak {peak} bytes for a {size}-byte feed"


# --- Shopify --------------------------------------------------------------------------------


def test_the_shopify_fixture_imports_one_record_per_variant(tmp_path: Path) -> None:
    records = read_feed(tmp_path, url=str(FIXTURES / "shopify-product.json"))
    assert [(r["sku"], r["variant_title"], r["inventory_quantity"]) for r in records] == [
        ("IPOD2008PINK", "Pink", 10),
        ("IPOD2008RED", "Red", 20),
        ("IPOD2008GREEN", "Green", 30),
        ("IPOD2008BLACK", "Black", 40),
    ]
    pink = records[0]
    assert pink["price"] == "199.00" and pink["compare_at_price"] is None
    assert pink["product_id"] == 632910392 and pink["variant_id"] == 808950810
    assert pink["title"] == "IPod Nano - 8GB" and pink["brand"] == "Apple"
    assert pink["product_type"] == "Cult Products" and pink["handle"] == "ipod-nano"
    assert pink["tags"] == "Emotive, Flash Memory, MP3, Music"
    assert pink["body_html"].startswith("<p>It's the small iPod with one very big idea")
    assert (pink["option1"], pink["option2"], pink["option3"]) == ("Pink", None, None)
    assert pink["options"] == {"Title": "Pink"} and pink["grams"] == 200
    assert pink["barcode"] is None
    assert pink["image_link"] == (
        "http://static.shopify.com/s/files/1/6909/3384/products/ipod-nano.png?0"
    )


def test_a_shopify_product_list_and_a_bare_product_are_read(tmp_path: Path) -> None:
    product = json.loads((FIXTURES / "shopify-product.json").read_text())["product"]
    other = {
        "id": 1,
        "title": "Mug",
        "vendor": "Acme",
        "variants": [{"id": 2, "sku": "MUG-1", "price": 4.5, "weight": 0.3, "barcode": "123"}],
    }
    listed = write(tmp_path, "list.json", json.dumps({"products": [product, other]}))
    bare = write(tmp_path, "bare.json", json.dumps(other))
    records = read_feed(tmp_path, url=listed, format="shopify")
    assert [r["sku"] for r in records][-2:] == ["IPOD2008BLACK", "MUG-1"]
    mug = read_feed(tmp_path, url=bare, format="shopify")[0]
    assert (mug["price"], mug["weight"], mug["barcode"], mug["brand"]) == (
        "4.5",
        0.3,
        "123",
        "Acme",
    )


def test_a_shopify_feed_is_detected_without_a_format(tmp_path: Path) -> None:
    text = (FIXTURES / "shopify-product.json").read_text()
    records = read_feed(tmp_path, url=write(tmp_path, "products.json", text))
    assert len(records) == 4 and records[0]["variant_id"] == 808950810


def test_shopify_variants_without_a_sku_can_be_keyed_by_variant_id(tmp_path: Path) -> None:
    product = {"id": 1, "title": "Mug", "variants": [{"id": 2, "sku": "M"}, {"id": 3, "sku": ""}]}
    url = write(tmp_path, "p.json", json.dumps({"product": product}))
    with pytest.raises(ConnectorError, match="^item 2 has an empty key 'sku'$"):
        read_feed(tmp_path, url=url, format="shopify")
    records = read_feed(tmp_path, url=url, format="shopify", key="variant_id")
    assert [r["variant_id"] for r in records] == [2, 3]
