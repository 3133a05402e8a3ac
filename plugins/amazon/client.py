"""The Feeds API 2021-06-30 of Amazon's Selling Partner API, as the channel uses it.

Every call waits for its operation's token bucket, carries a Login-with-Amazon access token
(refreshed once when refused), retries connection errors and 5xx answers `retries` times with
backoff, and honours 429 answers (`Retry-After`, else `x-amzn-RateLimit-Limit`, else the
bucket's rate) as long as the waits stay within `max_wait_s`; each 429 is counted in
`throttled`. Uploads and downloads go to the pre-signed URLs Amazon hands out, which are never
shown in a message.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

from core import netguard
from plugins.amazon.auth import AccessTokens
from plugins.amazon.documents import CONTENT_TYPE
from plugins.amazon.errors import (
    AmazonAccessDenied,
    AmazonApiError,
    AmazonThrottled,
    AmazonUnreachable,
)
from plugins.amazon.ratelimit import RateLimiter
from plugins.sources.retry import backoff_s, retry_after_s

FEEDS = "/feeds/2021-06-30"
FEED_TYPE = "JSON_LISTINGS_FEED"
USER_AGENT = "syncfarm-amazon/1 (Language=Python)"


class FeedsApi:
    def __init__(
        self,
        endpoint: str,
        *,
        tokens: AccessTokens,
        limiter: RateLimiter,
        session: requests.Session,
        timeout_s: float,
        retries: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.host = urlsplit(self.endpoint).netloc
        self.tokens = tokens
        self.limiter = limiter
        # every call, upload, download and (same session) token refresh is checked right
        # before connecting (core.netguard)
        self.session = netguard.guard_session(session)
        self.timeout_s = timeout_s
        self.retries = retries
        self.sleep = sleep
        #: 429 answers met (each waited for and retried)
        self.throttled = 0

    def create_feed_document(self) -> tuple[str, str]:
        """A new feed document: its id and the URL to upload its content to."""
        body = self._call(
            "createFeedDocument", "POST", f"{FEEDS}/documents", {"contentType": CONTENT_TYPE}
        )
        return _text(body, "feedDocumentId"), _text(body, "url")

    def create_feed(self, document_id: str, marketplace_ids: list[str]) -> str:
        """Submit the uploaded document as a feed; its feed id."""
        request = {
            "feedType": FEED_TYPE,
            "marketplaceIds": marketplace_ids,
            "inputFeedDocumentId": document_id,
        }
        return _text(self._call("createFeed", "POST", f"{FEEDS}/feeds", request), "feedId")

    def get_feed(self, feed_id: str) -> dict[str, Any]:
        return self._call("getFeed", "GET", f"{FEEDS}/feeds/{feed_id}")

    def get_feed_document(self, document_id: str) -> dict[str, Any]:
        return self._call("getFeedDocument", "GET", f"{FEEDS}/documents/{document_id}")

    def upload(self, url: str, content: bytes) -> None:
        self._transfer("PUT", url, content).close()

    def download(self, url: str, compression: str | None) -> bytes:
        content = self._transfer("GET", url, None).content
        return gzip.decompress(content) if (compression or "").upper() == "GZIP" else content

    def _call(
        self, operation: str, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        failures = 0
        waited_s = 0.0
        refreshed = False
        while True:
            self.limiter.acquire(operation)
            token = self.tokens.get()
            try:
                answer = self.session.request(
                    method,
                    self.endpoint + path,
                    json=payload,
                    headers={
                        "x-amz-access-token": token,
                        "user-agent": USER_AGENT,
                        "accept": "application/json",
                    },
                    timeout=self.timeout_s,
                )
            except requests.RequestException as exc:
                failures += 1
                if failures > self.retries:
                    raise AmazonUnreachable(
                        f"Amazon's SP-API ({self.host}) did not answer {operation}: "
                        f"{type(exc).__name__} ({failures} attempts); try again later"
                    ) from None
                self.sleep(backoff_s(failures))
                continue
            status = answer.status_code
            if status < 300:
                return _json(answer, operation)
            if status == 429:
                self.throttled += 1
                wait_s = self._throttle_wait_s(answer, operation)
                if waited_s + wait_s > self.limiter.max_wait_s:
                    raise AmazonThrottled(
                        f"Amazon throttles {operation} (HTTP 429, {self.throttled} times) "
                        f"past max_wait_s ({self.limiter.max_wait_s:g} s); the changes stay "
                        "pending for the next run"
                    )
                self.sleep(wait_s)
                waited_s += wait_s
                continue
            if status in (401, 403) and not refreshed:
                self.tokens.invalidate(token)
                refreshed = True
                continue
            code, said = _amazon_error(answer)
            if status in (401, 403):
                raise AmazonAccessDenied(
                    f"Amazon denied {operation} (HTTP {status} {code}: {said}); check that "
                    "the app has the Product Listing role and the seller authorized it"
                )
            if status >= 500:
                failures += 1
                if failures <= self.retries:
                    self.sleep(backoff_s(failures))
                    continue
            raise AmazonApiError(
                f"Amazon answered {operation} with HTTP {status} ({code}: {said})",
                code=code,
                transient=status >= 500,
            )

    def _throttle_wait_s(self, answer: requests.Response, operation: str) -> float:
        asked = retry_after_s(answer.headers.get("Retry-After"))
        if asked is not None:
            return asked
        try:
            rate = float(answer.headers.get("x-amzn-RateLimit-Limit", ""))
        except ValueError:
            rate = float(self.limiter.limits[operation]["rate_per_s"])
        return 1 / rate if rate > 0 else backoff_s(self.throttled)

    def _transfer(self, method: str, url: str, content: bytes | None) -> requests.Response:
        what = "upload the feed document to" if method == "PUT" else "download the report from"
        failures = 0
        while True:
            try:
                answer = self.session.request(
                    method,
                    url,
                    data=content,
                    headers={"content-type": CONTENT_TYPE} if content is not None else {},
                    timeout=self.timeout_s,
                )
            except requests.RequestException as exc:
                problem = type(exc).__name__
            else:
                if answer.status_code < 300:
                    return answer
                problem = f"HTTP {answer.status_code}"
                if answer.status_code < 500:
                    raise AmazonApiError(
                        f"could not {what} the URL Amazon gave: {problem}",
                        code=f"HTTP_{answer.status_code}",
                    )
            failures += 1
            if failures > self.retries:
                raise AmazonUnreachable(
                    f"could not {what} the URL Amazon gave: {problem} ({failures} attempts); "
                    "try again later"
                )
            self.sleep(backoff_s(failures))


def _json(answer: requests.Response, operation: str) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise AmazonApiError(
            f"Amazon answered {operation} with something other than a JSON object",
            code="SYNCFARM_BAD_ANSWER",
            transient=True,
        )
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise AmazonApiError(
            f"Amazon's answer has no {name}", code="SYNCFARM_BAD_ANSWER", transient=True
        )
    return value


def _amazon_error(answer: requests.Response) -> tuple[str, str]:
    """Amazon's own code and message of an error answer (`{"errors": [{code, message}]}`)."""
    try:
        errors = answer.json().get("errors") or []
        first = errors[0]
        return str(first.get("code") or f"HTTP_{answer.status_code}"), str(
            first.get("message") or ""
        )[:300]
    except (ValueError, AttributeError, IndexError, TypeError):
        return f"HTTP_{answer.status_code}", answer.reason or ""
