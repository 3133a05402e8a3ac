"""XML feeds handed over as raw items: parsing every item gives exactly the records `read()`
gives, broken feeds are refused as `read()` refuses them, and the fingerprint follows what
around the items changes their records."""

from __future__ import annotations

import codecs
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bench import feeds
from core.errors import ConnectorError
from plugins.sources.fetch import HttpOptions
from plugins.sources.formats import ReadOptions, xml_scan
from plugins.sources.formats.xml_raw import xml_raw_items
from plugins.sources.transport import open_feed
from tests.conftest import FIXTURES
from tests.plugins.feed_support import read_feed, write
from tests.plugins.test_feed_xml import CATALOG, MERCHANT_RSS

SETTINGS = ("key", "encoding", "item_path")


def raw_outcome(url: str, **settings: Any) -> list[dict[str, Any]] | str | None:
    """The records of parsing every raw item, the message of the error met, or None when the
    feed is not offered as raw items."""
    options = ReadOptions(**{name: settings[name] for name in SETTINGS if name in settings})
    http = HttpOptions(timeout_s=5.0, retries=0, auth=None)
    try:
        with open_feed(url, http=http) as feed:
            raw = xml_raw_items(feed, options)
            if raw is None:
                return None
            parsed = (raw.parse(item, where) for item, where in raw)
            return [record for record in parsed if record is not None]
    except ConnectorError as exc:
        return exc.message


def read_outcome(tmp_path: Path, url: str, **settings: Any) -> list[dict[str, Any]] | str:
    try:
        return read_feed(tmp_path, url=url, format="xml", **settings)
    except ConnectorError as exc:
        return exc.message


def bench_rss(records: int) -> str:
    """The benchmark's RSS feed (`bench.feeds.write_xml`) of `records` items."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.xml"
        feeds.write_xml(path, records, 0)
        return path.read_text(encoding="utf-8")


FEEDS: dict[str, tuple[str | bytes, dict[str, Any]]] = {
    "catalog by name": (CATALOG, {"item_path": "product"}),
    "catalog by absolute path": (CATALOG, {"item_path": "/catalog/product"}),
    "bench rss": (bench_rss(60), {}),
    "google merchant rss as xml": (MERCHANT_RSS, {"key": "g:id"}),
    "entities from the doctype": (
        '<?xml version="1.0"?>\n<!DOCTYPE r [\n<!ENTITY shop "Acme &amp; Co">\n]>\n'
        "<r><p><sku>1</sku><t>&shop; &#233; &lt;b&gt;</t></p><p><sku>2</sku></p></r>",
        {"item_path": "p"},
    ),
    "comments, cdata and pis holding tags": (
        "<r><!-- <p><sku>x</sku></p> --><p><sku>1</sku><!-- </p> <p> --></p>\n"
        "<p><sku>2</sku><d><![CDATA[</p><p><sku>no</sku></p>]]></d></p>"
        "<?pi <p></p> ?><p><sku>3</sku><?pi </p>?></p></r>",
        {"item_path": "p"},
    ),
    "an item within an item": (
        "<r><p><sku>1</sku><p><sku>inner</sku></p></p>\n<p><sku>2</sku></p></r>",
        {"item_path": "p"},
    ),
    "odd tags": (
        '<r>\r\n<p sku="1"/>\r\n<p\r\n  a="x>y" sku="2"\r\n>t</p >\r\n<px><sku>no</sku></px>'
        "<p sku='3'/>text &amp; more<p sku='4'><q/></p></r>",
        {"item_path": "p", "key": "@sku"},
    ),
    "namespaces that change between items": (
        '<r xmlns:a="urn:1"><g xmlns:a="urn:2" xmlns:b="urn:2"><p b:x="1" a:y="2"><sku>1</sku>'
        '</p></g><p a:x="3"><sku>2</sku></p><h xmlns="urn:d"><p><sku>3</sku></p></h></r>',
        {"item_path": "p"},
    ),
    "another prefix for the item's name": (
        '<r xmlns:x="urn:x"><p><sku>1</sku></p><x:p><sku>2</sku><p><sku>in</sku></p></x:p>'
        "<p><sku>3</sku></p></r>",
        {"item_path": "p"},
    ),
    "a prefixed item path": (
        '<r xmlns:s="urn:s"><meta><s:row><k>1</k></s:row></meta><s:row xmlns:s="urn:t">'
        "<k>2</k></s:row><row><k>no</k><s:row><k>3</k></s:row></row></r>",
        {"item_path": "s:row", "key": "k"},
    ),
    "items where the path does not match": (
        "<rss><channel><image><item><sku>no</sku></item></image>"
        "<item><sku>1</sku></item></channel><item><sku>no</sku></item></rss>",
        {},
    ),
    "default namespace": (
        '<rss xmlns="urn:d"><channel><item><sku>1</sku></item></channel></rss>',
        {},
    ),
    "declared windows-1252": (
        '<?xml version="1.0" encoding="windows-1252"?><r><p><sku>caf\u00e9</sku></p></r>'.encode(
            "cp1252"
        ),
        {"item_path": "p"},
    ),
    "an encoding setting over the declaration": (
        '<?xml version="1.0" encoding="UTF-8"?><r><p><sku>caf\u00e9</sku></p></r>'.encode("cp1252"),
        {"item_path": "p", "encoding": "cp1252"},
    ),
    "utf-8 with a bom": ("\ufeff<r><p><sku>\u00e9\u20ac</sku></p></r>", {"item_path": "p"}),
}


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 5, 13, 64])
@pytest.mark.parametrize("name", list(FEEDS))
def test_raw_items_parse_into_the_records_read_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, chunk_bytes: int
) -> None:
    content, settings = FEEDS[name]
    monkeypatch.setattr(xml_scan, "CHUNK_BYTES", chunk_bytes)
    url = write(tmp_path, "f.xml", content)
    records = read_outcome(tmp_path, url, **settings)
    assert isinstance(records, list) and records
    assert raw_outcome(url, **settings) == records


def test_the_google_base_fixture_parses_into_the_records_read_gives(tmp_path: Path) -> None:
    url = str(FIXTURES / "google-base-products2.xml")
    records = read_outcome(tmp_path, url, key="guid")
    assert isinstance(records, list) and len(records) == 2
    assert raw_outcome(url, key="guid") == records


def test_unchanged_items_keep_their_bytes_and_a_changed_one_does_not(tmp_path: Path) -> None:
    before = bench_rss(20)
    after = before.replace("<sku>SKU-00000007</sku>", "<sku>SKU-00000007</sku><new>1</new>")
    first = raw_bytes(write(tmp_path, "a.xml", before))
    second = raw_bytes(write(tmp_path, "b.xml", after))
    assert [a == b for a, b in zip(first, second, strict=True)].count(False) == 1


def raw_bytes(url: str, **settings: Any) -> list[bytes]:
    with open_feed(url, http=HttpOptions(timeout_s=5.0, retries=0, auth=None)) as feed:
        raw = xml_raw_items(feed, ReadOptions(**settings))
        assert raw is not None
        return [item for item, _ in raw]


BROKEN = bench_rss(3)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(BROKEN[: BROKEN.index("<title>")], id="in the channel"),
        pytest.param(BROKEN[: BROKEN.index("<item>") + 3], id="in a start tag"),
        pytest.param(BROKEN[: BROKEN.index("</price>") + 3], id="in an item"),
        pytest.param(BROKEN[: BROKEN.index("</item>") + 7], id="after an item"),
        pytest.param(BROKEN[: BROKEN.rindex("</item>") + 2], id="in the last end tag"),
        pytest.param(BROKEN[: BROKEN.index("</rss>")], id="unclosed root"),
        pytest.param(BROKEN + "<more/>", id="garbage after the root"),
        pytest.param(BROKEN.replace("</item>\n<item>", "</item>\n\x01<item>", 1), id="a bad char"),
        pytest.param(
            BROKEN.encode().replace(b"</channel>", b"<x>\xe9</x></channel>"),
            id="invalid bytes outside the items",
        ),
        pytest.param(
            BROKEN.replace("<sku>SKU-00000001</sku>", "<id>1</id>"), id="an item without key"
        ),
        pytest.param(
            "<rss><channel><entry><sku>1</sku></entry></channel></rss>", id="no items at all"
        ),
    ],
)
@pytest.mark.parametrize("chunk_bytes", [1 << 20, 7])
def test_a_broken_feed_is_refused_with_the_message_read_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | bytes, chunk_bytes: int
) -> None:
    monkeypatch.setattr(xml_scan, "CHUNK_BYTES", chunk_bytes)
    url = write(tmp_path, "f.xml", content)
    message = read_outcome(tmp_path, url)
    assert isinstance(message, str)
    assert raw_outcome(url) == message


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(BROKEN.encode().replace(b"</brand>", b"\xe9</brand>", 1), id="invalid bytes"),
        pytest.param(BROKEN.replace("</price>", "</prize>", 1), id="mismatched tags"),
        pytest.param(BROKEN.replace("<stock>", "<stock a='1' a='2'>", 1), id="twice an attribute"),
        pytest.param(BROKEN.replace("<stock>", "<g:stock>", 1), id="an undeclared prefix"),
        pytest.param(BROKEN.replace("<stock>", "<stock>&nope;", 1), id="an unknown entity"),
    ],
)
def test_a_broken_item_is_refused_naming_the_item(tmp_path: Path, content: str | bytes) -> None:
    url = write(tmp_path, "f.xml", content)
    assert isinstance(read_outcome(tmp_path, url), str)
    message = raw_outcome(url)
    assert isinstance(message, str)
    assert message.startswith("the XML feed is not well-formed in item 1, at its line 1")


def fingerprint(tmp_path: Path, content: str, **settings: Any) -> str:
    url = write(tmp_path, "fp.xml", content)
    with open_feed(url, http=HttpOptions(timeout_s=5.0, retries=0, auth=None)) as feed:
        raw = xml_raw_items(feed, ReadOptions(**settings))
        assert raw is not None
        return raw.fingerprint


def test_the_fingerprint_follows_what_changes_records_and_only_that(tmp_path: Path) -> None:
    rss = '<rss version="2.0" xmlns:g="urn:g"><channel><title>Shop</title><item><sku>1</sku>'
    rss += "</item></channel></rss>"
    base = fingerprint(tmp_path, rss)
    assert fingerprint(tmp_path, rss.replace(">Shop<", ">Shop, updated today<")) == base
    assert fingerprint(tmp_path, rss.replace('version="2.0"', 'version="2.1"')) == base
    changed = [
        fingerprint(tmp_path, rss.replace("urn:g", "urn:other")),
        fingerprint(tmp_path, rss.replace('xmlns:g="urn:g"', 'xmlns:h="urn:g"')),
        fingerprint(tmp_path, '<!DOCTYPE rss [<!ENTITY e "x">]>' + rss),
        fingerprint(tmp_path, '<?xml version="1.0" encoding="ISO-8859-1"?>' + rss),
        fingerprint(tmp_path, rss, key="title"),
        fingerprint(tmp_path, rss, item_path="item"),
        fingerprint(tmp_path, rss, encoding="cp1252"),
    ]
    assert base not in changed and len(set(changed)) == len(changed)


@pytest.mark.parametrize(
    ("content", "settings"),
    [
        pytest.param(
            codecs.BOM_UTF16_LE + "<r><p><sku>1</sku></p></r>".encode("utf-16-le"),
            {"item_path": "p"},
            id="utf-16",
        ),
        pytest.param(
            '<?xml version="1.0" encoding="UTF-16"?><r/>', {"item_path": "p"}, id="declared utf-16"
        ),
        pytest.param(CATALOG, {}, id="the root's children"),
        pytest.param(CATALOG, {"item_path": "/catalog/*"}, id="a star"),
        pytest.param(CATALOG, {"item_path": "catalog/product"}, id="a relative path"),
        pytest.param("<p><sku>1</sku></p>", {"item_path": "p"}, id="the root as the item"),
        pytest.param("<item><item/></item>", {"item_path": "/item/item"}, id="a repeated name"),
    ],
)
def test_feeds_the_scanner_cannot_follow_are_left_to_read(
    tmp_path: Path, content: str | bytes, settings: dict[str, Any]
) -> None:
    assert raw_outcome(write(tmp_path, "f.xml", content), **settings) is None


def test_an_unknown_entity_between_items_is_refused(tmp_path: Path) -> None:
    url = write(tmp_path, "f.xml", BROKEN.replace("</item>\n", "</item>&nope;", 1))
    assert isinstance(read_outcome(tmp_path, url), str)
    message = raw_outcome(url)
    assert isinstance(message, str) and message.startswith("the XML feed is not well-formed at")
