"""A small Amazon Selling Partner API for the Amazon channel's tests, and what the framework
does around the channel (`Ledger`).

`FakeSpApi` serves, on one local port: Login with Amazon's token endpoint, the Feeds API
2021-06-30 (createFeedDocument, createFeed, getFeed, getFeedDocument) and the "pre-signed"
URLs of uploads and processing reports. It keeps every uploaded document (`documents()`),
every call by operation (`calls`), and behaves as told:

- `throttle["getFeed"] = 2`: the first 2 calls of an operation answer 429 with
  `Retry-After: retry_after` (and `x-amzn-RateLimit-Limit`);
- `unavailable["createFeed"] = 1`: the first calls answer 503;
- `rejections["SKU-1"] = [("8541", "The SKU data provided conflicts with the Amazon
  catalog")]`: ERROR issues in the report (and `warnings`, the same way, as WARNING);
- `in_progress_polls = 3`: getFeed says IN_QUEUE, then IN_PROGRESS, for the first 3 polls
  of each feed; `outcome = "FATAL"` or `"CANCELLED"` ends feeds so;
- `refuse_refresh = "invalid_grant"`: the token endpoint refuses; `token_lifetime_s`;
  `revoke_tokens()` makes the API refuse every access token given so far;
- `issues_name_sku = False`: issues carry only their messageId; `gzip_reports = True`.
"""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from plugins.amazon import RESULTS_TASK, AmazonChannel
from plugins.amazon.auth import AccessTokens
from plugins.amazon.ratelimit import LocalBuckets
from plugins.base import Change, ChangeResult, ConnectorContext, TaskContext, TaskResult
from tests.httpserver import QuietHandler

FEEDS = "/feeds/2021-06-30"
CLIENT_ID = "amzn1.application-oa2-client.test"
CLIENT_SECRET = "client-secret-never-shown"
REFRESH_TOKEN = "Atzr|refresh-token-never-shown"
SELLER_ID = "A2TESTSELLER"
MARKETPLACE = "A1PA6795UKMFR9"
CONFLICT = ("8541", "The SKU data provided conflicts with the Amazon catalog.")
FAST_LIMITS = {
    op: {"rate_per_s": 1000.0, "burst": 1000}
    for op in ("createFeedDocument", "createFeed", "getFeed", "getFeedDocument")
}


class FakeSpApi:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.url = ""
        self.throttle: Counter[str] = Counter()
        self.unavailable: Counter[str] = Counter()
        self.retry_after = "1"
        self.rejections: dict[str, list[tuple[str, str]]] = {}
        self.warnings: dict[str, list[tuple[str, str]]] = {}
        self.in_progress_polls = 0
        self.outcome = "DONE"
        self.refuse_refresh: str | None = None
        self.token_lifetime_s = 3600
        self.issues_name_sku = True
        self.gzip_reports = False
        self.calls: Counter[str] = Counter()
        self.tokens: list[str] = []
        self.revoked: set[str] = set()
        self.uploads: dict[str, bytes | None] = {}  # document id → content
        self.feeds: dict[str, dict[str, Any]] = {}

    @contextmanager
    def running(self) -> Iterator[str]:
        """Serve on a free local port (like `tests.httpserver.serving`, but stopping within
        50 ms, since every test starts its own)."""
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield self.url
        finally:
            server.shutdown()
            server.server_close()

    def documents(self) -> list[dict[str, Any]]:
        """Every document submitted as a feed, in order."""
        return [self._document(feed["inputFeedDocumentId"]) for feed in self.feeds.values()]

    def messages(self) -> list[dict[str, Any]]:
        return [m for doc in self.documents() for m in doc["messages"]]

    def revoke_tokens(self) -> None:
        with self.lock:
            self.revoked.update(self.tokens)

    # --- what each operation answers ---------------------------------------------------------

    def answer(self, method: str, path: str, body: bytes, headers: Any) -> tuple[int, Any, dict]:
        operation, ident = _route(method, path)
        with self.lock:
            self.calls[operation] += 1
            if operation == "unknown":
                return 404, {"errors": [{"code": "NotFound", "message": path}]}, {}
            if self.throttle[operation] > 0:
                self.throttle[operation] -= 1
                limit = {"x-amzn-RateLimit-Limit": "2.0"}
                retry = {"Retry-After": self.retry_after} if self.retry_after else {}
                return 429, _error("QuotaExceeded", "You exceeded your quota."), limit | retry
            if self.unavailable[operation] > 0:
                self.unavailable[operation] -= 1
                return 503, _error("ServiceUnavailable", "Try again."), {}
            if operation == "lwa":
                return self._token(body)
            if operation in ("upload", "download"):
                return getattr(self, "_" + operation)(ident, body, headers)
            if headers.get("x-amz-access-token") not in set(self.tokens) - self.revoked:
                return 403, _error("Unauthorized", "Access to requested resource is denied."), {}
            return getattr(self, "_" + operation)(ident, body, headers)

    def _token(self, body: bytes) -> tuple[int, Any, dict]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        expected = {
            "grant_type": "refresh_token",
            "refresh_token": REFRESH_TOKEN,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        if self.refuse_refresh or form != expected:
            error = self.refuse_refresh or "invalid_grant"
            said = "The request has an invalid grant parameter : refresh_token"
            return 400, {"error": error, "error_description": said}, {}
        token = f"Atza|access-{len(self.tokens) + 1}"
        self.tokens.append(token)
        answer = {"access_token": token, "token_type": "bearer"}
        return 200, answer | {"expires_in": self.token_lifetime_s}, {}

    def _createFeedDocument(self, _: str, body: bytes, headers: Any) -> tuple[int, Any, dict]:
        request = json.loads(body)
        if request.get("contentType") != "application/json; charset=UTF-8":
            return 400, _error("InvalidInput", "contentType"), {}
        ident = f"amzn1.tortuga.doc.{len(self.uploads) + 1}"
        self.uploads[ident] = None
        url = f"{self.url}/uploads/{ident}?X-Amz-Signature=signed-secret"
        return 201, {"feedDocumentId": ident, "url": url}, {}

    def _upload(self, ident: str, body: bytes, headers: Any) -> tuple[int, Any, dict]:
        if ident not in self.uploads or headers.get("content-type") != (
            "application/json; charset=UTF-8"
        ):
            return 403, {"Code": "SignatureDoesNotMatch"}, {}
        self.uploads[ident] = body
        return 200, b"", {}

    def _createFeed(self, _: str, body: bytes, headers: Any) -> tuple[int, Any, dict]:
        request = json.loads(body)
        ident = request.get("inputFeedDocumentId")
        if request.get("feedType") != "JSON_LISTINGS_FEED" or self.uploads.get(ident) is None:
            return 400, _error("InvalidInput", "no such uploaded document"), {}
        feed_id = str(50_000 + len(self.feeds) + 1)
        self.feeds[feed_id] = {**request, "feedId": feed_id, "polls": 0}
        return 202, {"feedId": feed_id}, {}

    def _getFeed(self, feed_id: str, body: bytes, headers: Any) -> tuple[int, Any, dict]:
        feed = self.feeds.get(feed_id)
        if feed is None:
            return 404, _error("NotFound", f"feed {feed_id} not found"), {}
        feed["polls"] += 1
        answer = {k: feed[k] for k in ("feedId", "feedType", "marketplaceIds")}
        if feed["polls"] <= self.in_progress_polls:
            status = "IN_QUEUE" if feed["polls"] == 1 else "IN_PROGRESS"
            return 200, answer | {"processingStatus": status}, {}
        if self.outcome == "CANCELLED":
            return 200, answer | {"processingStatus": "CANCELLED"}, {}
        report = {"resultFeedDocumentId": f"report-{feed_id}"}
        return 200, answer | {"processingStatus": self.outcome} | report, {}

    def _getFeedDocument(self, ident: str, body: bytes, headers: Any) -> tuple[int, Any, dict]:
        answer = {"feedDocumentId": ident, "url": f"{self.url}/reports/{ident}?sig=secret"}
        if self.gzip_reports:
            answer["compressionAlgorithm"] = "GZIP"
        return 200, answer, {}

    def _download(self, ident: str, body: bytes, headers: Any) -> tuple[int, Any, dict]:
        feed = self.feeds.get(ident.removeprefix("report-"))
        if feed is None:
            return 404, {"Code": "NoSuchKey"}, {}
        report = self._report(feed)
        content = json.dumps(report).encode()
        return 200, gzip.compress(content) if self.gzip_reports else content, {}

    def _report(self, feed: dict[str, Any]) -> dict[str, Any]:
        doc = self._document(feed["inputFeedDocumentId"])
        head = {"sellerId": doc["header"]["sellerId"], "version": "2.0", "feedId": feed["feedId"]}
        if self.outcome == "FATAL":
            fatal = {"code": "4000001", "severity": "ERROR", "message": "Feed was aborted."}
            return {"header": head, "issues": [fatal], "summary": _summary(0, 0)}
        issues = []
        invalid = warned = 0
        for message in doc["messages"]:
            found = [("ERROR", i) for i in self.rejections.get(message["sku"], [])]
            found += [("WARNING", i) for i in self.warnings.get(message["sku"], [])]
            invalid += any(severity == "ERROR" for severity, _ in found)
            warned += sum(severity == "WARNING" for severity, _ in found)
            for severity, (code, text) in found:
                issue = {"messageId": message["messageId"], "code": code, "severity": severity}
                if self.issues_name_sku:
                    issue["sku"] = message["sku"]
                issues.append(issue | {"message": text, "attributeName": "item_name"})
        count = len(doc["messages"])
        return {"header": head, "issues": issues, "summary": _summary(count, invalid, warned)}

    def _document(self, ident: str) -> dict[str, Any]:
        return dict(json.loads(self.uploads[ident] or b"{}"))

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                lowered = {k.lower(): v for k, v in self.headers.items()}
                status, answer, headers = fake.answer(self.command, self.path, body, lowered)
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

        return Handler


ROUTES = (  # method, path (a prefix when it ends in /), operation
    ("POST", "/auth/o2/token", "lwa"),
    ("POST", f"{FEEDS}/documents", "createFeedDocument"),
    ("POST", f"{FEEDS}/feeds", "createFeed"),
    ("GET", f"{FEEDS}/feeds/", "getFeed"),
    ("GET", f"{FEEDS}/documents/", "getFeedDocument"),
    ("PUT", "/uploads/", "upload"),
    ("GET", "/reports/", "download"),
)


def _route(method: str, raw_path: str) -> tuple[str, str]:
    """The operation a request asks for, and the id in its path."""
    path = urlsplit(raw_path).path
    for verb, start, operation in ROUTES:
        if verb == method and (path == start or start.endswith("/") and path.startswith(start)):
            return operation, path[len(start) :]
    return "unknown", ""


def _error(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "details": ""}]}


def _summary(processed: int, invalid: int, warnings: int = 0) -> dict[str, int]:
    return {
        "errors": invalid,
        "warnings": warnings,
        "messagesProcessed": processed,
        "messagesAccepted": processed - invalid,
        "messagesInvalid": invalid,
    }


# --- around the channel ------------------------------------------------------------------------


class Sleeps(list[float]):
    """A `sleep` that only writes down how long it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def settings_for(url: str, **overrides: Any) -> dict[str, Any]:
    """Loaded settings of a channel talking to the fake at `url`, with fast rate limits."""
    raw = {
        "seller_id": SELLER_ID,
        "marketplace_ids": [MARKETPLACE],
        "endpoint": url,
        "lwa_endpoint": f"{url}/auth/o2/token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "currency": "EUR",
        "language_tag": "de_DE",
        "rate_limits": FAST_LIMITS,
        **overrides,
    }
    loaded: dict[str, Any] = AmazonChannel.settings_schema().load(raw)
    return loaded


def make_channel(
    url: str,
    tmp_path: Path,
    *,
    state: dict[str, Any] | None = None,
    redis_url: str | None = None,
    sleep: Sleeps | None = None,
    clock: Any = None,
    **overrides: Any,
) -> AmazonChannel:
    context = ConnectorContext(
        project_id="prj_amazon",
        connection_id="con_amazon",
        data_dir=tmp_path / "data",
        http_timeout_s=5.0,
        state=state,
        redis_url=redis_url,
    )
    extra: dict[str, Any] = {"sleep": sleep if sleep is not None else Sleeps()}
    if clock is not None:
        extra["clock"] = clock
    return AmazonChannel(settings_for(url, **overrides), context, **extra)


class Ledger:
    """The framework's side for one channel: changes `sending` under their ticket, the
    results reported for them, and the connection's state."""

    def __init__(self, channel: AmazonChannel) -> None:
        self.channel = channel
        self.sending: dict[str, str] = {}
        self.answered: dict[str, ChangeResult] = {}

    def send(self, changes: Iterable[Change]) -> list[ChangeResult]:
        results = list(self.channel.send(changes))
        for result in results:
            if result.ok is None:
                assert result.ticket
                self.sending[result.key] = result.ticket
            else:
                self.answered[result.key] = result
        return results

    def submissions(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for key, ticket in self.sending.items():
            found.setdefault(ticket, []).append(key)
        return found

    def report(self, results: Iterable[ChangeResult]) -> None:
        for result in results:
            assert result.ok is not None
            if self.sending.pop(result.key, None) is not None:
                self.answered[result.key] = result

    def collect(self) -> TaskResult:
        """Run the results task as the framework does."""
        ctx = TaskContext(
            records=lambda: iter(()),
            state={},
            submissions=self.submissions,
            report=self.report,
        )
        return self.channel.run_task(RESULTS_TASK, ctx)


def insert(key: str, **record: Any) -> Change:
    return Change(key, "insert", {"sku": key, **record}, "h")


def update(key: str, **record: Any) -> Change:
    return Change(key, "update", {"sku": key, **record}, "h")


@pytest.fixture(autouse=True)
def fresh_amazon_caches() -> Iterator[None]:
    """Access tokens and in-process buckets live as long as the process: not across tests."""
    AccessTokens.forget_all()
    LocalBuckets.forget_all()
    yield
    AccessTokens.forget_all()
    LocalBuckets.forget_all()


@pytest.fixture(name="fake")
def fake_spapi() -> Iterator[FakeSpApi]:
    """A running `FakeSpApi` (import `fake_spapi`, ask for `fake`)."""
    api = FakeSpApi()
    with api.running():
        yield api
