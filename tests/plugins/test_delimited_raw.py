"""Delimited feeds handed over as raw rows read exactly as `read()` reads them."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ConnectorError
from tests.plugins.feed_support import feed_connector, read_feed, read_raw_feed, write


def outcome(reader: Any, tmp_path: Path, **kw: Any) -> Any:
    try:
        return reader(tmp_path, **kw)
    except ConnectorError as exc:
        return ("error", exc.message)


FEEDS: dict[str, bytes] = {
    "bom and quoted newline": '\ufeffsku;title\nA;"two\nlines"\nB;plain\n'.encode(),
    "crlf": b"sku,title\r\nA,x\r\nB,y\r\n",
    "no final newline": b"sku,title\nA,x\nB,y",
    "blank lines": b"\nsku,title\n\nA,x\n\r\n\nB,y\n\n",
    "short and long rows": b"sku,a,b\nA,1\nB,1,2,,\n",
    "too many fields": b"sku,a\nA,1,2\n",
    "quote inside an unquoted field": b'sku,size\nA,5" screen\nB,"x"\n',
    "literal quote then a quoted newline": b'sku,a,b\nA,x"y,"z\nw"\nB,1,2\n',
    "doubled quotes": b'sku,t\nA,"say ""hi"""\nB,"a\n\n\nb"\n',
    "unterminated quote": b'sku,t\nA,"never closed\nB,x\n',
    "empty key": b'sku,t\nA,x\n"",y\n',
    "empty key after a multi-line row": b'sku,t\nA,"1\n2"\n ,y\n',
    "bad utf-8": b"sku,title\nA-1,ok\nA-2,caf\xe9\n",
    "cp1252": "sku,title\nA,caf\u00e9 \u20ac\n".encode("cp1252"),
    "no key column": b"name,price\nx,1\n",
    "only a header": b"sku,title\n",
    "tab": b"sku\ttitle\nA\ta, b\n",
    "pipe with quotes": b'sku|t\nA|"x|y"\n',
    "bare carriage return": b"sku,t\nA,x\ry\n",
    "duplicate header": b"sku,sku\nA,B\n",
    "single column wrong delimiter": b"sku;title\nA;x\n",
}


@pytest.mark.parametrize("name", sorted(FEEDS))
def test_raw_rows_read_as_the_reader_reads_them(tmp_path: Path, name: str) -> None:
    url = write(tmp_path, "f.csv", FEEDS[name])
    for extra in ({}, {"encoding": "utf-8"}):
        assert outcome(read_raw_feed, tmp_path, url=url, **extra) == outcome(
            read_feed, tmp_path, url=url, **extra
        ), name


def test_an_undecodable_row_names_its_line_and_offset_as_the_reader_does(tmp_path: Path) -> None:
    url = write(tmp_path, "f.csv", FEEDS["bad utf-8"])
    assert outcome(read_raw_feed, tmp_path, url=url, encoding="utf-8") == (
        "error",
        "line 3 is not valid UTF-8 (byte 8 of the line, byte offset 24 of the feed); "
        "set `encoding`, e.g. cp1252",
    )


def test_rows_without_quotes_are_handed_over_as_their_line(tmp_path: Path) -> None:
    url = write(tmp_path, "f.csv", b'sku,t\nA,x\n\nB,"y\nz"\nC,w')
    with feed_connector(tmp_path, url=url).raw_items() as raw:
        assert raw is not None
        assert list(raw) == [(b"A,x\n", 2), (b'B,"y\nz"\n', 4), (b"C,w", 6)]


def test_the_fingerprint_moves_with_the_header_delimiter_and_key(tmp_path: Path) -> None:
    def fingerprint(content: bytes, **kw: Any) -> str:
        url = write(tmp_path, "f.csv", content)
        with feed_connector(tmp_path, url=url, **kw).raw_items() as raw:
            assert raw is not None
            return raw.fingerprint

    base = fingerprint(b"sku,t,u\nA,1,2\n")
    assert fingerprint(b"sku,t,u\nB,3,4\n") == base  # rows do not count
    assert fingerprint(b"sku,u,t\nA,1,2\n") != base
    assert fingerprint(b"sku,t,u\nA,1,2\n", key="t") != base
    assert fingerprint(b"sku;t;u\nA;1;2\n") != base


def test_utf16_feeds_are_not_handed_over_raw(tmp_path: Path) -> None:
    url = write(tmp_path, "f.txt", "sku\ttitle\r\nA-1\tx\r\n".encode("utf-16"))
    assert read_raw_feed(tmp_path, url=url) is None


def test_json_feeds_are_not_handed_over_raw(tmp_path: Path) -> None:
    url = write(tmp_path, "f.json", b'[{"sku": "A"}]')
    assert read_raw_feed(tmp_path, url=url) is None


cells = st.text(alphabet=st.sampled_from('ab ,;"\n\r\t\u00e9'), max_size=6)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.lists(cells, min_size=1, max_size=4), max_size=6), raw_tail=cells)
def test_any_table_reads_the_same_raw_as_parsed(
    tmp_path: Path, rows: list[list[str]], raw_tail: str
) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["sku", "a", "b", "c"])
    for number, row in enumerate(rows):
        writer.writerow([f"K{number}", *row])
    content = (out.getvalue() + raw_tail).encode()
    url = write(tmp_path, "f.csv", content)
    assert outcome(read_raw_feed, tmp_path, url=url) == outcome(read_feed, tmp_path, url=url)
