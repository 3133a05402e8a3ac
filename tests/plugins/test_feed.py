from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConnectorError
from plugins.base import ConnectorContext
from plugins.feed import FeedConnector, FeedSettings


def _read(tmp_path: Path, **settings: Any) -> list[dict[str, Any]]:
    loaded = FeedSettings().load(settings)
    context = ConnectorContext(project_id="p", connection_id="c", data_dir=tmp_path)
    return list(FeedConnector(loaded, context).read())


def test_a_semicolon_feed_with_a_bom_and_quoted_newlines_is_read(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes('\ufeffsku;title\nA;"two\nlines"\nB;plain\n'.encode())
    assert _read(tmp_path, url=str(path)) == [
        {"sku": "A", "title": "two\nlines"},
        {"sku": "B", "title": "plain"},
    ]


def test_a_missing_key_column_is_named_with_the_columns_found(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("id,title\n1,x\n")
    with pytest.raises(ConnectorError, match="no key column 'sku' .*columns: id, title"):
        _read(tmp_path, url=str(path))
    assert _read(tmp_path, url=str(path), key="id") == [{"id": "1", "title": "x"}]


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match="could not open the feed file"):
        _read(tmp_path, url=str(tmp_path / "absent.csv"))


@pytest.fixture
def http_feed() -> Iterator[tuple[str, dict[str, Any]]]:
    state: dict[str, Any] = {"body": b"sku,price\nX,1\n", "status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(state["status"])
            self.send_header("Content-Type", "text/csv")
            self.end_headers()
            self.wfile.write(state["body"])

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feed.csv", state
    finally:
        server.shutdown()
        server.server_close()


def test_a_feed_is_read_over_http(tmp_path: Path, http_feed: Any) -> None:
    url, _ = http_feed
    assert _read(tmp_path, url=url) == [{"sku": "X", "price": "1"}]


def test_an_http_error_status_is_reported(tmp_path: Path, http_feed: Any) -> None:
    url, state = http_feed
    state["status"] = 503
    with pytest.raises(ConnectorError, match="HTTP 503"):
        _read(tmp_path, url=url)
