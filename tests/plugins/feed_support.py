"""Helpers for the `feed` connector's tests: reading a feed, and a scripted local HTTP server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plugins.base import ConnectorContext, Record
from plugins.feed import FeedConnector, FeedSettings


class Sleeps(list[float]):
    """A `sleep` that records the waits asked for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def feed_connector(
    tmp_path: Path, sleep: Callable[[float], None] | None = None, **settings: Any
) -> FeedConnector:
    loaded = FeedSettings().load(settings)
    context = ConnectorContext(
        project_id="p", connection_id="c", data_dir=tmp_path, http_timeout_s=5.0
    )
    return FeedConnector(loaded, context, sleep=Sleeps() if sleep is None else sleep)


def read_feed(
    tmp_path: Path, sleep: Callable[[float], None] | None = None, **settings: Any
) -> list[Record]:
    return list(feed_connector(tmp_path, sleep, **settings).read())


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    """Write a feed file and return its path as a `url` setting."""
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return str(path)


@dataclass
class Answer:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]


Script = Answer | Callable[[Request], Answer]


class FeedServer:
    """A local HTTP server. Each path answers from its script: every request takes the next
    answer, and the last one repeats. A body given as an iterable is sent piece by piece,
    without a Content-Length (the end of the body is the end of the connection)."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Script]] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                request = Request(self.path, dict(self.headers.items()))
                server.requests.append(request)
                answer = server.next_answer(request)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if isinstance(answer.body, bytes):
                    self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                try:
                    if isinstance(answer.body, bytes):
                        self.wfile.write(answer.body)
                    else:
                        for piece in answer.body:
                            self.wfile.write(piece)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True

    def script(self, path: str, *answers: Script) -> str:
        """Set what `path` answers; returns its URL."""
        self.scripts[path] = list(answers)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}{path}"

    def next_answer(self, request: Request) -> Answer:
        script = self.scripts.get(request.path.split("?", 1)[0]) or [Answer(404, b"not found")]
        step = script.pop(0) if len(script) > 1 else script[0]
        return step(request) if callable(step) else step


@contextmanager
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    thread = threading.Thread(target=server.http.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.http.shutdown()
        server.http.server_close()


def read_raw_feed(
    tmp_path: Path, sleep: Callable[[float], None] | None = None, **settings: Any
) -> list[Record] | None:
    """What `read_feed` reads, through `raw_items` and `parse` (None: no raw items)."""
    connector = feed_connector(tmp_path, sleep, **settings)
    with connector.raw_items() as raw:
        if raw is None:
            return None
        return [r for item, where in raw if (r := raw.parse(item, where)) is not None]
