"""The `feed` source on XML: items as dicts, item paths, Google Merchant feeds, bounded memory,
and what broken XML says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ConnectorError
from tests.conftest import FIXTURES
from tests.plugins.feed_support import read_feed, write

ROOT = Path(__file__).resolve().parents[2]
CATALOG = """<?xml version="1.0" encoding="UTF-8"?>
<catalog xmlns:g="http://base.google.com/ns/1.0" xmlns:x="urn:x">
  <!-- exported nightly -->
  <product id="7" xml:lang="en" x:origin="de">
    <sku>A-1</sku>
    <title><![CDATA[Red <b>shirt</b>]]></title>
    <g:price>19.90 EUR</g:price>
    <g:label>summer</g:label>
    <g:label>cotton</g:label>
    <size unit="cm">42</size>
    <shipping><country>DE</country><price>4.95</price></shipping>
    <empty/>
  </product>
  <product id="8"><sku>A-2</sku></product>
</catalog>
"""


def test_xml_items_become_dicts_with_prefixes_lists_attributes_and_nested_children(
    tmp_path: Path,
) -> None:
    records = read_feed(tmp_path, url=write(tmp_path, "f.xml", CATALOG))
    assert records == [
        {
            "@id": "7",
            "@xml:lang": "en",
            "@x:origin": "de",
            "sku": "A-1",
            "title": "Red <b>shirt</b>",
            "g:price": "19.90 EUR",
            "g:label": ["summer", "cotton"],
            "size": {"@unit": "cm", "#text": "42"},
            "shipping": {"country": "DE", "price": "4.95"},
            "empty": "",
        },
        {"@id": "8", "sku": "A-2"},
    ]


@pytest.mark.parametrize(
    "item_path", ["product", "catalog/product", "/catalog/product", "/catalog/*"]
)
def test_item_path_is_a_name_or_a_slash_path(tmp_path: Path, item_path: str) -> None:
    url = write(tmp_path, "f.xml", CATALOG)
    records = read_feed(tmp_path, url=url, item_path=item_path)
    assert [r["sku"] for r in records] == ["A-1", "A-2"]


def test_a_prefixed_item_path_matches_the_prefixed_element(tmp_path: Path) -> None:
    url = write(
        tmp_path,
        "f.xml",
        '<r xmlns:s="urn:s"><meta><s:row><k>no</k></s:row></meta>'
        "<rows><s:row><k>1</k></s:row><s:row><k>2</k></s:row></rows></r>",
    )
    records = read_feed(tmp_path, url=url, item_path="rows/s:row", key="k")
    assert records == [{"k": "1"}, {"k": "2"}]


def test_an_item_path_that_matches_nothing_lists_the_elements_found(tmp_path: Path) -> None:
    url = write(tmp_path, "f.xml", CATALOG)
    with pytest.raises(ConnectorError) as caught:
        read_feed(tmp_path, url=url, item_path="item")
    assert caught.value.message.startswith(
        "the XML feed has no <item> elements (elements found: product, sku, title, g:price"
    )
    assert caught.value.message.endswith(
        "set `item_path` to the element of one item, e.g. product or /catalog/product"
    )


def test_truncated_xml_names_the_line_column_and_item(tmp_path: Path) -> None:
    url = write(tmp_path, "f.xml", CATALOG[: CATALOG.index("<sku>A-2") + 7])
    with pytest.raises(ConnectorError) as caught:
        read_feed(tmp_path, url=url)
    assert caught.value.message == (
        "the XML feed is not well-formed at line 14, column 26 (in item 2): Premature end of "
        "data in tag sku line 14"
    )


def test_bytes_that_are_not_the_declared_xml_encoding_name_the_line(tmp_path: Path) -> None:
    content = b'<?xml version="1.0" encoding="UTF-8"?>\n<r>\n<p><sku>1</sku></p>\n<p><sku>caf\xe9'
    url = write(tmp_path, "f.xml", content + b"</sku></p></r>")
    with pytest.raises(ConnectorError) as caught:
        read_feed(tmp_path, url=url)
    assert caught.value.message == (
        "the XML feed is not well-formed at line 4, column 12 (in item 2): Invalid bytes in "
        "character encoding"
    )


def test_an_encoding_setting_overrides_the_xml_declaration(tmp_path: Path) -> None:
    content = '<?xml version="1.0" encoding="UTF-8"?><r><p><sku>caf\u00e9</sku></p></r>'
    url = write(tmp_path, "f.xml", content.encode("cp1252"))
    assert read_feed(tmp_path, url=url, encoding="cp1252") == [{"sku": "caf\u00e9"}]
    utf8 = write(tmp_path, "u.xml", "\ufeff" + content)
    assert read_feed(tmp_path, url=utf8, encoding="utf-8-sig") == [{"sku": "caf\u00e9"}]


def test_an_xml_item_without_the_key_is_refused_by_item_number(tmp_path: Path) -> None:
    url = write(tmp_path, "f.xml", '<r><p id="1"><sku>1</sku></p><p id="2"><n>2</n></p></r>')
    with pytest.raises(ConnectorError, match=r"^item 2 has no key field 'sku' \(fields: @id, n\)"):
        read_feed(tmp_path, url=url)
    assert [r["@id"] for r in read_feed(tmp_path, url=url, key="@id")] == ["1", "2"]


def test_entities_from_a_doctype_are_not_resolved(tmp_path: Path, csv_feed: Path) -> None:
    content = (
        f'<!DOCTYPE r [<!ENTITY secret SYSTEM "file://{csv_feed}">]>'
        "<r><p><sku>1</sku><title>&secret;</title></p></r>"
    )
    records = read_feed(tmp_path, url=write(tmp_path, "f.xml", content))
    assert "Red shirt" not in str(records)


def test_xml_memory_stays_bounded_whatever_the_feed_size(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    with path.open("w") as out:
        out.write('<?xml version="1.0"?>\n<catalog xmlns:g="http://example.com/g">\n')
        for n in range(100_000):
            out.write(
                f'<product id="{n}"><sku>S{n}</sku><title>Product {n}, a long enough title'
                f"</title><g:price>{n}.00 EUR</g:price><g:label>a</g:label><g:label>b</g:label>"
                "<shipping><country>DE</country><price>4.95</price></shipping></product>\n"
            )
        out.write("</catalog>\n")
    # libxml2's memory is invisible to tracemalloc: measure the peak RSS of a process of its own.
    script = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from plugins.base import ConnectorContext\n"
        "from plugins.feed import FeedConnector, FeedSettings\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "settings = FeedSettings().load({'url': sys.argv[1]})\n"
        "source = FeedConnector(settings, ConnectorContext('p', 'c', Path('.')))\n"
        "count = sum(1 for _ in source.read())\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(count, (after - before) * 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    count, growth = map(int, done.stdout.split())
    size = path.stat().st_size
    assert count == 100_000
    assert growth < size / 8, f"memory grew by {growth} bytes reading a {size}-byte feed"


# --- Google Merchant ------------------------------------------------------------------------


def test_the_google_base_fixture_imports_with_normalized_fields(tmp_path: Path) -> None:
    mini, laptop = read_feed(tmp_path, url=str(FIXTURES / "google-base-products2.xml"))
    assert {k: mini[k] for k in mini if k in NORMALIZED} == {
        "sku": "1092",
        "title": "Google Mini",
        "description": mini["description"],
        "link": "http://www.googlestore.com/appliance/GO0123.asp",
        "image_link": "http://www.googlestore.com/appliance/images/products/GO0144E.jpg",
        "price": "2995",
        "currency": "USD",
        "availability": None,
        "brand": "Google",
        "gtin": "12348573",
        "mpn": "2325",
        "condition": "new",
        "product_type": None,
        "google_product_category": None,
    }
    assert mini["description"].startswith("Now the same reliable results you expect")
    assert mini["label"] == ["web search", "appliance"]
    assert mini["payment_accepted"] == ["Check", "MasterCard"]
    assert mini["shipping"] == {"country": "US", "service": "Standard", "price": "5000"}
    assert (mini["quantity"], mini["tax_percent"], mini["guid"]) == ("300", "8.25", "1092")
    assert laptop["sku"] == "822" and laptop["title"] == "Acme Laptop"
    assert (laptop["price"], laptop["currency"], laptop["brand"]) == ("1400", "USD", "Acme")
    assert (laptop["gtin"], laptop["mpn"], laptop["product_type"]) == (
        "2305934757",
        "834",
        "electronics",
    )
    assert laptop["label"] == ["Computer", "Laptop"] and laptop["memory"] == "512"
    assert laptop["shipping"] == {"country": "US", "service": "Overnight", "price": "32.95"}


NORMALIZED = [
    "sku",
    "title",
    "description",
    "link",
    "image_link",
    "price",
    "currency",
    "availability",
    "brand",
    "gtin",
    "mpn",
    "condition",
    "product_type",
    "google_product_category",
]

MERCHANT_RSS = """<?xml version="1.0"?>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel><title>Shop</title>
<item>
  <g:id>TV-55</g:id><g:title>TV 55"</g:title><g:description>Big</g:description>
  <g:link>https://shop.example/tv</g:link><g:image_link>https://shop.example/tv.jpg</g:image_link>
  <g:price>499.00 EUR</g:price><g:sale_price>449.00 EUR</g:sale_price>
  <g:availability>in_stock</g:availability><g:brand>Acme</g:brand><g:gtin>4006381333931</g:gtin>
  <g:mpn>TV55X</g:mpn><g:condition>new</g:condition><g:product_type>Home &gt; TV</g:product_type>
  <g:google_product_category>404</g:google_product_category>
  <g:shipping><g:country>DE</g:country><g:price>0.00 EUR</g:price></g:shipping>
</item>
</channel></rss>
"""


def test_a_merchant_feed_splits_price_and_currency_and_keeps_other_fields(
    tmp_path: Path,
) -> None:
    (record,) = read_feed(tmp_path, url=write(tmp_path, "merchant.xml", MERCHANT_RSS))
    assert record == {
        "sku": "TV-55",
        "title": 'TV 55"',
        "description": "Big",
        "link": "https://shop.example/tv",
        "image_link": "https://shop.example/tv.jpg",
        "price": "499.00",
        "currency": "EUR",
        "availability": "in_stock",
        "brand": "Acme",
        "gtin": "4006381333931",
        "mpn": "TV55X",
        "condition": "new",
        "product_type": "Home > TV",
        "google_product_category": "404",
        "sale_price": "449.00 EUR",
        "shipping": {"country": "DE", "price": "0.00 EUR"},
    }


def test_a_google_atom_feed_reads_its_entries(tmp_path: Path) -> None:
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="http://base.google.com/ns/1.0">'
        "<title>Shop</title><entry><g:id>M-1</g:id><title>Mug</title><summary>White</summary>"
        '<link href="https://shop.example/mug" rel="alternate"/><g:price>4 USD</g:price>'
        "</entry></feed>"
    )
    (record,) = read_feed(tmp_path, url=write(tmp_path, "feed.atom", atom), format="google")
    assert (record["sku"], record["title"], record["description"]) == ("M-1", "Mug", "White")
    assert (record["link"], record["price"], record["currency"]) == (
        "https://shop.example/mug",
        "4",
        "USD",
    )


def test_a_google_item_without_an_id_is_refused_by_item_number(tmp_path: Path) -> None:
    rss = MERCHANT_RSS.replace("<g:id>TV-55</g:id>", "")
    with pytest.raises(ConnectorError, match="^item 1 has an empty key 'sku'$"):
        read_feed(tmp_path, url=write(tmp_path, "merchant.xml", rss))
