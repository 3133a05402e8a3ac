"""The `feed` source over http(s), against a local server: auth, compression, retries and
rate limits, HTML error pages, format detection, streaming and bounded memory."""

from __future__ import annotations

import base64
import gzip
import io
import socket
import threading
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConnectorError
from tests.plugins.feed_support import (
    Answer,
    FeedServer,
    Request,
    Sleeps,
    feed_connector,
    feed_server,
    read_feed,
)

CSV = b"sku,price\nX,1\n"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


def test_a_feed_is_read_over_http(tmp_path: Path, server: FeedServer) -> None:
    url = server.script("/feed.csv", Answer(body=CSV, headers={"Content-Type": "text/csv"}))
    assert read_feed(tmp_path, url=url) == [{"sku": "X", "price": "1"}]
    assert server.requests[0].headers["User-Agent"].startswith("syncfarm-feed")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("auth", "sent"),
    [
        (
            {"type": "basic", "username": "shop", "password": "s3cret"},
            lambda r: r.headers.get("Authorization") == _basic("shop", "s3cret"),
        ),
        (
            {"type": "bearer", "token": "t0k"},
            lambda r: r.headers.get("Authorization") == "Bearer t0k",
        ),
        (
            {"type": "header", "name": "X-Api-Key", "value": "k3y"},
            lambda r: r.headers.get("X-Api-Key") == "k3y",
        ),
        ({"type": "query", "name": "key", "value": "k 3"}, lambda r: r.path == "/feed.csv?key=k+3"),
    ],
    ids=["basic", "bearer", "header", "query"],
)
def test_each_kind_of_auth_reaches_the_server(
    tmp_path: Path, server: FeedServer, auth: dict[str, str], sent: Any
) -> None:
    def guarded(request: Request) -> Answer:
        return Answer(body=CSV) if sent(request) else Answer(401, b"who are you?")

    url = server.script("/feed.csv", guarded)
    assert read_feed(tmp_path, url=url, auth=auth) == [{"sku": "X", "price": "1"}]
    with pytest.raises(ConnectorError) as caught:
        read_feed(tmp_path, url=url)
    assert caught.value.message == (
        f"fetching the feed {url} answered HTTP 401 (Unauthorized); check `auth`"
    )


def test_a_missing_feed_suggests_checking_the_url(tmp_path: Path, server: FeedServer) -> None:
    with pytest.raises(ConnectorError, match=r"answered HTTP 404 \(Not Found\); check `url`$"):
        read_feed(tmp_path, url=server.url("/nowhere.csv"))
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/feed.csv", {"Content-Encoding": "gzip", "Content-Type": "text/csv"}),
        ("/feed.csv.gz", {"Content-Type": "application/gzip"}),
        ("/export", {"Content-Type": "application/octet-stream"}),
    ],
    ids=["content-encoding", "extension", "magic-bytes"],
)
def test_a_gzip_feed_is_unpacked(
    tmp_path: Path, server: FeedServer, path: str, headers: dict[str, str]
) -> None:
    url = server.script(path, Answer(body=gzip.compress(b"sku|title\nG-1|Mug\n"), headers=headers))
    assert read_feed(tmp_path, url=url) == [{"sku": "G-1", "title": "Mug"}]


def test_a_zip_feed_is_read_from_its_first_member_or_the_one_named(
    tmp_path: Path, server: FeedServer
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("products.csv", "sku\nZ-1\n")
        archive.writestr("stock.jsonl", '{"sku": "Z-2", "stock": 4}\n')
    url = server.script("/feed.zip", Answer(body=buffer.getvalue()))
    assert read_feed(tmp_path, url=url) == [{"sku": "Z-1"}]
    assert read_feed(tmp_path, url=url, zip_member="stock.jsonl") == [{"sku": "Z-2", "stock": 4}]


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Content-Type": "application/json"}, b'[{"sku": "J"}]', [{"sku": "J"}]),
        ({"Content-Type": "application/x-ndjson"}, b'{"sku": "L"}\n', [{"sku": "L"}]),
        ({"Content-Type": "text/plain"}, b"sku\ttitle\nT\tMug\n", [{"sku": "T", "title": "Mug"}]),
        (
            {"Content-Disposition": 'attachment; filename="products.jsonl"'},
            b'{"sku": "D"}\n',
            [{"sku": "D"}],
        ),
    ],
    ids=["json", "ndjson", "text", "content-disposition"],
)
def test_the_format_follows_the_content_type_or_the_file_name_sent(
    tmp_path: Path, server: FeedServer, headers: dict[str, str], body: bytes, expected: Any
) -> None:
    url = server.script("/download", Answer(body=body, headers=headers))
    assert read_feed(tmp_path, url=url) == expected


def test_an_html_page_answered_with_200_is_not_taken_for_a_feed(
    tmp_path: Path, server: FeedServer
) -> None:
    page = b"\n<!DOCTYPE html>\n<html><head><title>Sign in | Shop</title></head></html>"
    url = server.script("/feed.json", Answer(body=page, headers={"Content-Type": "text/html"}))
    with pytest.raises(ConnectorError) as caught:
        read_feed(tmp_path, url=url, format="json")
    assert caught.value.message == (
        "the server answered an HTML page instead of a feed (titled 'Sign in | Shop'); check "
        "`url`, and `auth` if the page asks to log in"
    )


def test_an_empty_answer_is_an_empty_feed(tmp_path: Path, server: FeedServer) -> None:
    url = server.script("/feed.csv", Answer(body=b""))
    with pytest.raises(ConnectorError, match=f"^the feed is empty: {url} has 0 bytes$"):
        read_feed(tmp_path, url=url)


# --- retries and rate limits ---------------------------------------------------------------


def test_a_429_waits_as_retry_after_says_then_reads(tmp_path: Path, server: FeedServer) -> None:
    url = server.script(
        "/feed.csv",
        Answer(429, b"slow down", {"Retry-After": "7"}),
        Answer(429, b"slow down", {"Retry-After": formatdate(time.time() + 30, usegmt=True)}),
        Answer(429, b"slow down", {"Retry-After": "86400"}),
        Answer(body=CSV),
    )
    sleeps = Sleeps()
    assert read_feed(tmp_path, sleeps, url=url, retries=0) == [{"sku": "X", "price": "1"}]
    assert sleeps[0] == 7 and 25 <= sleeps[1] <= 30 and sleeps[2] == 120
    assert len(server.requests) == 4


def test_a_server_that_keeps_answering_429_gives_up_after_five_waits(
    tmp_path: Path, server: FeedServer
) -> None:
    url = server.script("/feed.csv", Answer(429, b"", {"Retry-After": "1"}))
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as caught:
        read_feed(tmp_path, sleeps, url=url)
    assert caught.value.message == (
        f"fetching the feed {url} answered HTTP 429 (Too Many Requests) 6 times in a row; try "
        "again later, or run this job less often"
    )
    assert sleeps == [1, 1, 1, 1, 1]


def test_a_500_is_retried_after_a_jittered_backoff(tmp_path: Path, server: FeedServer) -> None:
    url = server.script("/feed.csv", Answer(500, b"oops"), Answer(502, b"oops"), Answer(body=CSV))
    sleeps = Sleeps()
    assert read_feed(tmp_path, sleeps, url=url) == [{"sku": "X", "price": "1"}]
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1 and 1 <= sleeps[1] <= 2


def test_a_server_error_that_lasts_is_reported_after_the_retries(
    tmp_path: Path, server: FeedServer
) -> None:
    url = server.script("/feed.csv", Answer(503, b"down"))
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as caught:
        read_feed(tmp_path, sleeps, url=url, retries=2)
    assert caught.value.message == (
        f"fetching the feed {url} answered HTTP 503 (Service Unavailable) 3 times; the server "
        "has a problem, try again later"
    )
    assert len(server.requests) == 3 and len(sleeps) == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_is_retried_then_reported_without_secrets(tmp_path: Path) -> None:
    url = f"http://shop:pa55@127.0.0.1:{_closed_port()}/feed.csv"
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as caught:
        read_feed(
            tmp_path, sleeps, url=url, auth={"type": "query", "name": "key", "value": "t0ps3cret"}
        )
    message = caught.value.message
    assert message.startswith("could not fetch the feed http://shop:***@127.0.0.1:")
    assert "Connection refused (4 times); check `url`, or try again later" in message
    assert "pa55" not in message and "t0ps3cret" not in message
    assert len(sleeps) == 3


def test_a_server_slower_than_timeout_s_is_reported(tmp_path: Path, server: FeedServer) -> None:
    def slow(request: Request) -> Answer:
        time.sleep(1)
        return Answer(body=CSV)

    url = server.script("/feed.csv", slow)
    with pytest.raises(ConnectorError, match=r"no answer within 0.2 s \(once\)"):
        read_feed(tmp_path, url=url, timeout_s=0.2, retries=0)


def test_a_connection_dropped_mid_feed_names_the_byte_offset(
    tmp_path: Path, server: FeedServer
) -> None:
    body = b"sku\n" + b"".join(b"A-%d\n" % n for n in range(1000))
    url = server.script("/feed.csv", Answer(body=[body], headers={"Content-Length": "100000"}))
    with pytest.raises(ConnectorError, match=r"^reading the feed broke off at byte \d+: "):
        read_feed(tmp_path, url=url)


# --- streaming -----------------------------------------------------------------------------


def test_the_first_record_arrives_before_the_server_has_sent_the_whole_feed(
    tmp_path: Path, server: FeedServer
) -> None:
    go_on = threading.Event()
    sent_all = threading.Event()

    def body() -> Iterator[bytes]:
        yield b"sku,title\n" + b"".join(b"A-%d,%s\n" % (n, b"x" * 60) for n in range(5000))
        go_on.wait(10)
        yield b"".join(b"B-%d,%s\n" % (n, b"y" * 60) for n in range(5000))
        sent_all.set()

    url = server.script("/feed.csv", Answer(body=body()))
    records = feed_connector(tmp_path, url=url).read()
    first = next(records)
    assert first == {"sku": "A-0", "title": "x" * 60} and not sent_all.is_set()
    go_on.set()
    assert sum(1 for _ in records) == 9999 and sent_all.is_set()


def test_a_large_http_feed_is_read_in_bounded_memory(tmp_path: Path, server: FeedServer) -> None:
    def rows() -> Iterator[bytes]:
        yield b"sku,title,description,price\n"
        for start in range(0, 200_000, 2000):
            yield b"".join(
                b"SKU-%d,Product %d,%s,%d.99\n" % (n, n, b"d" * 160, n % 100)
                for n in range(start, start + 2000)
            )

    url = server.script("/big.csv", Answer(body=rows(), headers={"Content-Type": "text/csv"}))
    tracemalloc.start()
    try:
        count = sum(1 for _ in feed_connector(tmp_path, url=url).read())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000  # about 38 MB of CSV
    assert peak < 10 * 1024 * 1024, f"peak {peak} bytes"
