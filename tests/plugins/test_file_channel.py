"""The `file` channel: every format written and read back, columns and mapping, encodings,
gzip, atomic replacement, bounded memory, settings validation, and how `web` serves it."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from marshmallow import ValidationError

from core.config import Settings
from plugins.base import ConnectorContext, Record
from plugins.file import FileConnector, FileSettings, export_path

G = "http://base.google.com/ns/1.0"

CATALOG: list[Record] = [
    {"sku": "A-1", "title": 'Red "shirt", cotton', "price": 19.9, "stock": 3},
    {"title": "Blue\tshirt\nwith two lines", "sku": "A-2", "price": 21.5, "colour": "blue"},
]


def _connector(tmp_path: Path, **settings: Any) -> FileConnector:
    context = ConnectorContext(project_id="p", connection_id="c", data_dir=tmp_path)
    return FileConnector(FileSettings().load(settings), context)


def _write(tmp_path: Path, records: Any = CATALOG, **settings: Any) -> tuple[bytes, dict[str, int]]:
    connector = _connector(tmp_path, **settings)
    counts = connector.write(iter(records))
    return connector.path.read_bytes(), counts


def _problems(**settings: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as refused:
        FileSettings().load(settings)
    messages: dict[str, Any] = refused.value.messages  # type: ignore[assignment]
    return messages


# --- formats --------------------------------------------------------------------------------


def test_csv_without_columns_has_every_field_key_first_in_first_seen_order(
    tmp_path: Path,
) -> None:
    body, counts = _write(tmp_path)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert list(rows[0]) == ["sku", "title", "price", "stock", "colour"]
    assert rows[0] == {
        "sku": "A-1",
        "title": 'Red "shirt", cotton',
        "price": "19.9",
        "stock": "3",
        "colour": "",
    }
    assert rows[1]["title"] == "Blue\tshirt\nwith two lines" and rows[1]["stock"] == ""
    assert counts["written"] == 2 and counts["unencodable"] == 0


def test_csv_with_columns_and_a_delimiter_writes_just_those_columns(tmp_path: Path) -> None:
    body, _ = _write(tmp_path, columns=["price", "sku"], delimiter=";")
    rows = list(csv.reader(io.StringIO(body.decode()), delimiter=";"))
    assert rows == [["price", "sku"], ["19.9", "A-1"], ["21.5", "A-2"]]


def test_a_mapping_renames_columns_and_a_missing_source_field_is_empty(tmp_path: Path) -> None:
    mapping = [{"from": "sku", "to": "ID"}, {"from": "colour", "to": "Colour"}]
    body, _ = _write(tmp_path, mapping=mapping)
    assert list(csv.DictReader(io.StringIO(body.decode()))) == [
        {"ID": "A-1", "Colour": ""},
        {"ID": "A-2", "Colour": "blue"},
    ]


def test_txt_is_tab_separated_with_tabs_and_line_breaks_in_values_made_spaces(
    tmp_path: Path,
) -> None:
    body, _ = _write(tmp_path, format="txt", columns=["sku", "title"])
    assert body.decode().splitlines() == [
        "sku\ttitle",
        'A-1\tRed "shirt", cotton',
        "A-2\tBlue shirt with two lines",
    ]


def test_json_is_an_array_of_the_mapped_objects(tmp_path: Path) -> None:
    mapping = [{"from": "sku", "to": "id"}, {"from": "stock", "to": "qty"}]
    body, _ = _write(tmp_path, format="json", mapping=mapping)
    assert json.loads(body) == [{"id": "A-1", "qty": 3}, {"id": "A-2", "qty": None}]


def test_json_keeps_nested_values_and_an_empty_catalog_is_an_empty_array(
    tmp_path: Path,
) -> None:
    record = {"sku": "A", "images": ["a.jpg", "b.jpg"], "size": {"w": 2}, "odd": float("nan")}
    body, _ = _write(tmp_path, [record], format="json")
    assert json.loads(body) == [{**record, "odd": None}]
    empty, counts = _write(tmp_path, [], format="json")
    assert json.loads(empty) == [] and counts["written"] == 0


def test_jsonl_has_one_object_per_line(tmp_path: Path) -> None:
    body, _ = _write(tmp_path, format="jsonl", filename="feed.jsonl", columns=["sku", "price"])
    lines = body.decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"sku": "A-1", "price": 19.9},
        {"sku": "A-2", "price": 21.5},
    ]


def test_xml_has_an_element_per_record_with_lists_repeated_and_objects_nested(
    tmp_path: Path,
) -> None:
    record = {
        "sku": "A-1",
        "images": ["a.jpg", "b.jpg"],
        "size": {"w": 2, "h": 3},
        "my price": "1 < 2 & 3",
        "2nd": "x",
        "bell": "ring\x07",
    }
    body, counts = _write(tmp_path, [record], format="xml")
    root = etree.fromstring(body)
    assert root.tag == "products" and [e.tag for e in root] == ["product"]
    item = root[0]
    assert [e.tag for e in item] == ["sku", "images", "images", "size", "my_price", "_2nd", "bell"]
    assert item.findtext("sku") == "A-1"
    assert [e.text for e in item.findall("images")] == ["a.jpg", "b.jpg"]
    assert item.findtext("size/h") == "3"
    assert item.findtext("my_price") == "1 < 2 & 3"
    assert item.findtext("bell") == "ring\ufffd" and counts["unencodable"] == 1


def test_xml_writes_g_prefixed_fields_in_their_declared_namespace(tmp_path: Path) -> None:
    body, _ = _write(
        tmp_path,
        format="xml",
        root="feed",
        item="entry",
        namespaces={"g": G},
        mapping=[{"from": "sku", "to": "g:id"}, {"from": "price", "to": "g:price"}],
    )
    root = etree.fromstring(body)
    assert root.tag == "feed" and len(root) == 2
    assert root[1].findtext(f"{{{G}}}id") == "A-2"
    assert root[1].findtext(f"{{{G}}}price") == "21.5"
    assert body.count(b"xmlns:g=") == 1


# --- encodings and compression ---------------------------------------------------------------


def test_cp1252_replaces_and_counts_characters_it_cannot_hold(tmp_path: Path) -> None:
    records = [{"sku": "A", "title": "Crème brûlée 5 € ☃ 😀"}]
    body, counts = _write(tmp_path, records, encoding="cp1252")
    assert body.decode("cp1252").splitlines()[1] == "A,Crème brûlée 5 € ? ?"
    assert counts["unencodable"] == 2


def test_utf8_sig_starts_with_a_byte_order_mark(tmp_path: Path) -> None:
    body, _ = _write(tmp_path, encoding="utf-8-sig", columns=["sku"])
    assert body.startswith(b"\xef\xbb\xbfsku\r\n")


def test_a_gzip_export_decompresses_to_the_feed(tmp_path: Path) -> None:
    body, _ = _write(tmp_path, format="jsonl", gzip=True, filename="feed.jsonl.gz")
    lines = gzip.decompress(body).decode().splitlines()
    assert [json.loads(line)["sku"] for line in lines] == ["A-1", "A-2"]


# --- atomic replacement -----------------------------------------------------------------------


def test_a_failure_mid_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    for settings in ({}, {"columns": ["sku"]}, {"format": "xml"}, {"gzip": True}):
        connector = _connector(tmp_path, **settings)
        connector.write(iter(CATALOG))
        before = connector.path.read_bytes()

        def breaking() -> Iterator[Record]:
            yield from CATALOG
            raise RuntimeError("the database went away")

        with pytest.raises(RuntimeError, match="went away"):
            connector.write(breaking())
        assert connector.path.read_bytes() == before
        assert os.listdir(connector.path.parent) == [connector.path.name]


def test_an_unchanged_catalog_keeps_the_file_so_conditional_gets_still_match(
    tmp_path: Path,
) -> None:
    connector = _connector(tmp_path, gzip=True)
    assert connector.write(iter(CATALOG))["file_replaced"] == 1
    old = connector.path.stat()
    time.sleep(0.01)
    assert connector.write(iter(CATALOG))["file_replaced"] == 0
    assert connector.path.stat().st_mtime_ns == old.st_mtime_ns
    changed = connector.write(iter(CATALOG[:1]))
    assert changed["file_replaced"] == 1 and connector.path.stat().st_ino != old.st_ino


def test_settings_stored_before_formats_existed_still_write_csv(tmp_path: Path) -> None:
    context = ConnectorContext(project_id="p", connection_id="c", data_dir=tmp_path)
    legacy = {"filename": "products.csv", "columns": None, "delimiter": ";"}
    connector = FileConnector(legacy, context)
    connector.write(iter(CATALOG))
    assert connector.path.read_text().splitlines()[0] == "sku;title;price;stock;colour"


def test_writing_100k_records_without_columns_never_holds_the_catalog(tmp_path: Path) -> None:
    def catalog() -> Iterator[Record]:
        for n in range(100_000):
            yield {"sku": f"SKU-{n:06d}", "title": f"Product number {n}", "price": n / 100}
            if n == 50_000:
                yield {"sku": "LATE", "late_field": "seen only here"}

    tracemalloc.start()
    try:
        held = list(catalog())
        holding_all, _ = tracemalloc.get_traced_memory()
        del held
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        counts = _connector(tmp_path).write(catalog())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert counts["written"] == 100_001
    assert peak - baseline < holding_all / 20, (peak - baseline, holding_all)
    path = export_path(tmp_path, "p", "c")
    with path.open(newline="") as exported:
        header = next(csv.reader(exported))
    assert header == ["sku", "title", "price", "late_field"]


# --- settings ---------------------------------------------------------------------------------


def test_the_filename_defaults_to_one_fitting_the_format() -> None:
    assert FileSettings().load({})["filename"] == "export.csv"
    assert FileSettings().load({"format": "xml", "gzip": True})["filename"] == "export.xml.gz"


def test_a_filename_that_does_not_fit_the_format_is_refused_with_an_example() -> None:
    assert "export.json" in _problems(format="json", filename="feed.csv")["filename"][0]
    assert "feed.csv.gz" not in _problems(gzip=True, filename="feed.csv")["filename"][0]
    assert "gzip is on" in _problems(gzip=True, filename="feed.csv")["filename"][0]
    assert "set gzip to true" in _problems(filename="feed.csv.gz")["filename"][0]
    assert "filename" in _problems(filename="../etc/passwd.csv")
    assert "filename" in _problems(filename="my feed.csv")


def test_settings_that_cannot_work_together_are_refused() -> None:
    both = _problems(columns=["sku"], mapping=[{"from": "sku", "to": "id"}])
    assert "not both" in both["mapping"][0]
    assert "repeated" in _problems(columns=["sku", "sku"])["columns"][0]
    assert "UTF-8" in _problems(format="json", encoding="cp1252")["encoding"][0]
    assert "tab-separated" in _problems(format="txt", delimiter=";")["delimiter"][0]
    assert "delimiter" in _problems(delimiter="\n")
    assert "format" in _problems(format="xlsx")
    undeclared = _problems(format="xml", columns=["g:price"])
    assert "declare it" in undeclared["namespaces"][0]
    assert "root" in _problems(format="xml", root="1 bad")
    assert "from" in _problems(mapping=[{"to": "id"}])["mapping"][0]


def test_txt_settings_show_the_tab_they_use() -> None:
    assert FileSettings().load({"format": "txt"})["delimiter"] == "\t"


# --- served by web ----------------------------------------------------------------------------


def _published(tenant: Any, settings: Settings, **file_settings: Any) -> tuple[str, Any]:
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    created = tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": "file", "role": "channel", "settings": file_settings},
    )
    assert created.status_code == 201, created.json
    connection = created.json
    context = ConnectorContext(
        project_id=pid, connection_id=connection["id"], data_dir=settings.data_dir
    )
    connector = FileConnector(FileSettings().load(file_settings), context)
    assert connector.path == export_path(settings.data_dir, pid, connection["id"])
    connector.write(iter(CATALOG))
    return connection["export_url"].removeprefix("http://localhost"), connector


@pytest.mark.parametrize(
    ("file_settings", "content_type"),
    [
        ({}, "text/csv; charset=utf-8"),
        ({"encoding": "cp1252"}, "text/csv; charset=windows-1252"),
        ({"format": "txt"}, "text/plain; charset=utf-8"),
        ({"format": "json"}, "application/json"),
        ({"format": "jsonl"}, "application/x-ndjson"),
        ({"format": "xml"}, "application/xml"),
        ({"format": "xml", "gzip": True}, "application/gzip"),
    ],
)
def test_an_export_is_served_with_the_content_type_of_its_format(
    client: Any, tenant: Any, settings: Settings, file_settings: Any, content_type: str
) -> None:
    url, connector = _published(tenant, settings, **file_settings)
    served = client.get(url)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == content_type
    assert served.data == connector.path.read_bytes()


def test_a_conditional_get_of_an_unchanged_export_answers_304(
    client: Any, tenant: Any, settings: Settings
) -> None:
    url, connector = _published(tenant, settings, format="json")
    first = client.get(url)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": last_modified}).status_code == 304

    connector.write(iter(CATALOG))  # the same catalog again: the file, and its ETag, stay
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    time.sleep(0.01)
    connector.write(iter(CATALOG[:1]))
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and json.loads(changed.data) == [CATALOG[0]]
