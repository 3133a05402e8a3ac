"""The `feed` source on local files: delimited text (CSV, TSV, TXT), encodings, format detection,
compressed files, settings, and what a broken feed says."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from core.errors import ConnectorError
from plugins.feed import FeedConnector, FeedSettings
from plugins.sources.stream import SNIFF_BYTES
from tests.plugins.feed_support import feed_connector, read_feed, write


def test_a_semicolon_feed_with_a_bom_and_quoted_newlines_is_read(tmp_path: Path) -> None:
    url = write(tmp_path, "f.csv", '\ufeffsku;title\nA;"two\nlines"\nB;plain\n'.encode())
    assert read_feed(tmp_path, url=url) == [
        {"sku": "A", "title": "two\nlines"},
        {"sku": "B", "title": "plain"},
    ]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_the_delimiter_is_detected_among_comma_semicolon_tab_and_pipe(
    tmp_path: Path, delimiter: str
) -> None:
    lines = [["sku", "title", "price"], ["A-1", "Red, or not", "1.50"]]
    text = "\r\n".join(delimiter.join(f'"{v}"' if "," in v else v for v in row) for row in lines)
    url = write(tmp_path, "f.csv", text + "\r\n")
    assert read_feed(tmp_path, url=url) == [{"sku": "A-1", "title": "Red, or not", "price": "1.50"}]


NAMES = st.lists(
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=4, unique=True
)
VALUES = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
KEYS = VALUES.filter(lambda key: bool(key.strip()))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    names=NAMES.filter(lambda names: "sku" not in names),
    data=st.data(),
)
def test_any_table_written_as_csv_is_read_back_as_written(
    tmp_path: Path, delimiter: str, names: list[str], data: st.DataObject
) -> None:
    header = ["sku", *names]
    rows = data.draw(st.lists(st.tuples(KEYS, *[VALUES for _ in names]), max_size=5))
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows([header, *rows])
    url = write(tmp_path, "table.csv", out.getvalue())
    assert read_feed(tmp_path, url=url) == [dict(zip(header, row, strict=True)) for row in rows]


def test_a_tsv_feed_is_split_on_tabs_even_when_its_fields_hold_commas(tmp_path: Path) -> None:
    url = write(tmp_path, "f.tsv", "sku\ttitle\nA-1\tshirt, red; cotton\n")
    assert read_feed(tmp_path, url=url) == [{"sku": "A-1", "title": "shirt, red; cotton"}]


def test_a_google_style_txt_feed_is_read_as_tab_delimited_text(tmp_path: Path) -> None:
    url = write(tmp_path, "products.txt", "id\ttitle\tprice\nG1\tMug\t4.00 EUR\n")
    assert read_feed(tmp_path, url=url, key="id") == [
        {"id": "G1", "title": "Mug", "price": "4.00 EUR"}
    ]


def test_a_cp1252_feed_is_detected_and_decoded(tmp_path: Path) -> None:
    url = write(tmp_path, "f.csv", "sku,title\nA-1,Caf\u00e9 cr\u00e8me 5\u20ac\n".encode("cp1252"))
    assert read_feed(tmp_path, url=url) == [{"sku": "A-1", "title": "Caf\u00e9 cr\u00e8me 5\u20ac"}]


def test_bytes_that_cp1252_cannot_decode_are_read_as_latin_1(tmp_path: Path) -> None:
    url = write(tmp_path, "f.csv", b"sku,title\nA-1,x\x81y \xe9\n")
    assert read_feed(tmp_path, url=url) == [{"sku": "A-1", "title": "x\x81y \u00e9"}]


def test_a_utf8_character_cut_by_the_detection_window_is_still_read_as_utf8(
    tmp_path: Path,
) -> None:
    header = b"sku,title\n"
    filler = b"A-0," + b"x" * (SNIFF_BYTES - 1 - len(header) - len(b"A-1,") - 5) + b"\n"
    before = header + filler + b"A-1,"
    assert len(before) == SNIFF_BYTES - 1  # the window ends inside the next "é"
    content = before + "\u00e9t\u00e9\n".encode()
    records = read_feed(tmp_path, url=write(tmp_path, "f.csv", content))
    assert records[-1] == {"sku": "A-1", "title": "\u00e9t\u00e9"}


def test_excel_unicode_text_in_utf16_is_detected(tmp_path: Path) -> None:
    url = write(tmp_path, "f.txt", "sku\ttitle\r\nA-1\t\u00e9t\u00e9\r\n".encode("utf-16"))
    assert read_feed(tmp_path, url=url) == [{"sku": "A-1", "title": "\u00e9t\u00e9"}]


def test_bytes_that_are_not_the_declared_encoding_name_the_line_and_offset(
    tmp_path: Path,
) -> None:
    url = write(tmp_path, "f.csv", b"sku,title\nA-1,ok\nA-2,caf\xe9\n")
    with pytest.raises(ConnectorError) as caught:
        read_feed(tmp_path, url=url, encoding="utf-8")
    assert caught.value.message == (
        "line 3 is not valid UTF-8 (byte 8 of the line, byte offset 24 of the feed); "
        "set `encoding`, e.g. cp1252"
    )
    assert read_feed(tmp_path, url=url, encoding="cp1252")[1]["title"] == "caf\u00e9"


def test_a_feed_that_stops_being_utf8_after_the_detection_window_names_the_line(
    tmp_path: Path,
) -> None:
    rows = "".join(f"A-{n},{'x' * 60}\n" for n in range(2000))
    url = write(tmp_path, "f.csv", ("sku,title\n" + rows).encode() + b"B-1,caf\xe9\n")
    with pytest.raises(ConnectorError, match="line 2002 is not valid UTF-8 .*set `encoding`"):
        read_feed(tmp_path, url=url)


@pytest.mark.parametrize(
    ("content", "said"), [(b"", "has 0 bytes"), (b"\xef\xbb\xbf \r\n\n", "holds only blanks")]
)
def test_an_empty_file_is_reported_as_an_empty_feed(
    tmp_path: Path, content: bytes, said: str
) -> None:
    url = write(tmp_path, "f.csv", content)
    with pytest.raises(ConnectorError, match=f"the feed is empty: .*f.csv {said}"):
        read_feed(tmp_path, url=url)


def test_a_feed_with_only_a_header_yields_no_records_so_the_pipeline_can_hold_the_run(
    tmp_path: Path,
) -> None:
    # The pipeline holds a run whose feed has no records ("the feed is empty but the project
    # has N records") rather than failing it; a header alone is such a feed.
    assert read_feed(tmp_path, url=write(tmp_path, "f.csv", "sku,title,price\n")) == []


def test_a_wrong_delimiter_names_the_column_found_and_suggests_one(tmp_path: Path) -> None:
    url = write(tmp_path, "f.csv", "sku;title;price\nA-1;Shirt;1\n")
    with pytest.raises(ConnectorError) as caught:
        read_feed(tmp_path, url=url, delimiter=",")
    assert caught.value.message == (
        "the feed has a single column 'sku;title;price' and no key column 'sku': the delimiter "
        "',' seems wrong; set `delimiter` (e.g. ';')"
    )


def test_a_missing_key_column_is_named_with_the_columns_found(tmp_path: Path) -> None:
    url = write(tmp_path, "f.csv", "id,title\n1,x\n")
    with pytest.raises(ConnectorError, match="no key column 'sku' .*columns: id, title"):
        read_feed(tmp_path, url=url)
    assert read_feed(tmp_path, url=url, key="id") == [{"id": "1", "title": "x"}]


def test_a_row_with_an_empty_key_names_its_line_counting_quoted_newlines(
    tmp_path: Path,
) -> None:
    url = write(tmp_path, "f.csv", 'sku,title\nA-1,"two\nlines"\n  ,nameless\n')
    with pytest.raises(ConnectorError, match="^line 4 has an empty key column 'sku'$"):
        read_feed(tmp_path, url=url)


def test_a_row_with_more_fields_than_the_header_names_its_line(tmp_path: Path) -> None:
    url = write(tmp_path, "f.csv", "sku,title\nA-1,x,\nA-2,y,surprise\n")
    with pytest.raises(ConnectorError, match="^line 3 has 3 fields, more than the header's 2"):
        read_feed(tmp_path, url=url)


def test_short_rows_get_empty_fields_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    url = write(tmp_path, "f.csv", " sku , title ,price\n\nA-1\n")
    assert read_feed(tmp_path, url=url) == [{"sku": "A-1", "title": "", "price": ""}]


def test_a_column_named_twice_is_refused(tmp_path: Path) -> None:
    url = write(tmp_path, "f.csv", "sku,price,price\nA-1,1,2\n")
    with pytest.raises(ConnectorError, match="names the column 'price' twice"):
        read_feed(tmp_path, url=url)


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match="could not open the feed file"):
        read_feed(tmp_path, url=str(tmp_path / "absent.csv"))


def test_a_file_url_is_read_like_a_path(tmp_path: Path, csv_feed: Path) -> None:
    assert read_feed(tmp_path, url=csv_feed.as_uri())[0] == {
        "sku": "A-1",
        "title": "Red shirt",
        "price": "19.90",
    }


def test_files_outside_syncfarm_file_roots_are_refused(
    tmp_path: Path, csv_feed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = feed_connector(tmp_path, url=str(csv_feed))
    monkeypatch.setenv("SYNCFARM_FILE_ROOTS", str(tmp_path / "elsewhere"))
    with pytest.raises(ConnectorError, match="SYNCFARM_FILE_ROOTS"):
        list(connector.read())
    with pytest.raises(ValidationError, match="SYNCFARM_FILE_ROOTS"):
        FeedSettings().load({"url": str(csv_feed)})


def test_settings_saved_before_the_formats_existed_still_read(
    tmp_path: Path, csv_feed: Path
) -> None:
    from plugins.base import ConnectorContext

    saved = {"url": str(csv_feed), "key": "sku", "delimiter": None, "encoding": "utf-8-sig"}
    context = ConnectorContext(project_id="p", connection_id="c", data_dir=tmp_path)
    assert len(list(FeedConnector(saved, context).read())) == 2


@pytest.mark.parametrize(
    ("name", "content", "first"),
    [
        ("export", '[{"sku": "J-1"}]', {"sku": "J-1"}),
        ("export", '{"sku": "L-1"}\n{"sku": "L-2"}\n', {"sku": "L-1"}),
        ("export", "<items><item><sku>X-1</sku></item></items>", {"sku": "X-1"}),
        ("export", "sku|title\nC-1|Mug\n", {"sku": "C-1", "title": "Mug"}),
        (
            "feed.xml",
            "<rss xmlns:g='http://base.google.com/ns/1.0'><channel><item>"
            "<g:id>G-1</g:id></item></channel></rss>",
            {"sku": "G-1"},
        ),
    ],
)
def test_the_format_is_detected_from_the_name_or_else_the_first_bytes(
    tmp_path: Path, name: str, content: str, first: dict[str, Any]
) -> None:
    record = read_feed(tmp_path, url=write(tmp_path, name, content))[0]
    assert record.items() >= first.items()


def test_an_explicit_format_wins_over_the_extension(tmp_path: Path) -> None:
    url = write(tmp_path, "f.csv", '[{"sku": "J-1"}]')
    assert read_feed(tmp_path, url=url, format="json") == [{"sku": "J-1"}]


def test_a_gzip_file_is_unpacked_and_its_inner_extension_names_the_format(
    tmp_path: Path,
) -> None:
    url = write(tmp_path, "f.jsonl.gz", gzip.compress(b'{"sku": "A"}\n{"sku": "B"}\n'))
    assert read_feed(tmp_path, url=url) == [{"sku": "A"}, {"sku": "B"}]


def test_a_truncated_gzip_file_is_reported(tmp_path: Path) -> None:
    packed = gzip.compress(b"sku\n" + b"".join(b"A-%d\n" % n for n in range(5000)))
    url = write(tmp_path, "f.csv.gz", packed[: len(packed) // 2])
    with pytest.raises(ConnectorError, match="the compressed feed ends early"):
        read_feed(tmp_path, url=url)


def _zip(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_a_zip_file_is_read_from_its_first_file_or_the_member_named(tmp_path: Path) -> None:
    url = write(
        tmp_path,
        "f.zip",
        _zip({"docs/": "", "a.csv": "sku\nA-1\n", "sub/b.json": '[{"sku": "B-1"}]'}),
    )
    assert read_feed(tmp_path, url=url) == [{"sku": "A-1"}]
    assert read_feed(tmp_path, url=url, zip_member="b.json") == [{"sku": "B-1"}]
    with pytest.raises(ConnectorError, match=r"no member 'c.csv' \(members: a.csv, sub/b.json"):
        read_feed(tmp_path, url=url, zip_member="c.csv")


def test_a_local_html_page_is_not_taken_for_a_feed(tmp_path: Path) -> None:
    url = write(tmp_path, "f.csv", "<!DOCTYPE html><html><title>Oops</title></html>")
    with pytest.raises(ConnectorError, match=r"is an HTML page \(titled 'Oops'\), not a feed"):
        read_feed(tmp_path, url=url)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"format": "yaml"}, "format"),
        ({"encoding": "klingon"}, "encoding"),
        ({"delimiter": "\n"}, "delimiter"),
        ({"items_path": "data..items"}, "items_path"),
        ({"auth": {"type": "basic", "username": "u"}}, "auth"),
        ({"auth": {"type": "cookie"}}, "auth"),
        ({"retries": 11}, "retries"),
        ({"timeout_s": 0}, "timeout_s"),
    ],
)
def test_settings_that_cannot_work_are_refused_up_front(
    csv_feed: Path, settings: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        FeedSettings().load({"url": str(csv_feed), **settings})
    assert field in caught.value.messages_dict


def test_settings_default_to_detection_and_three_retries(csv_feed: Path) -> None:
    loaded = FeedSettings().load({"url": str(csv_feed)})
    assert loaded == {
        "url": str(csv_feed),
        "format": "auto",
        "key": "sku",
        "delimiter": None,
        "encoding": "auto",
        "items_path": None,
        "item_path": None,
        "zip_member": None,
        "auth": None,
        "timeout_s": None,
        "retries": 3,
    }


def test_the_example_settings_read_offline(tmp_path: Path) -> None:
    settings = FeedConnector.example_settings(tmp_path)
    assert [r["sku"] for r in read_feed(tmp_path, **settings)] == ["EX-1", "EX-2"]
