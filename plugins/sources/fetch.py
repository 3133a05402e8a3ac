"""Fetching a feed over http(s): one streamed GET, retried when the server may recover.

Connection errors, timeouts, 408 and 5xx answers are retried `retries` times with backoff;
429 answers wait as `Retry-After` says and are counted apart (up to `RATE_LIMIT_WAITS` in a
row), since the server is working and only asks to come back later. Other 4xx answers fail
at once. The body is not read here: the caller streams it. The URL and every redirect are
checked by `core.netguard` right before connecting.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import requests

from core import netguard
from core.errors import ConnectorError
from plugins.sources.auth import request_auth
from plugins.sources.retry import backoff_s, retry_after_s

RATE_LIMIT_WAITS = 5
USER_AGENT = "syncfarm-feed/1"
_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")\]]*")


@dataclass(frozen=True)
class HttpOptions:
    timeout_s: float = 60.0
    retries: int = 3
    auth: dict[str, str] | None = None
    #: how to wait between attempts; tests pass one that does not sleep
    sleep: Callable[[float], None] = field(default=time.sleep)


def get_streamed(url: str, options: HttpOptions) -> requests.Response:
    """The server's 2xx answer to a GET of `url`, its body not read yet."""
    auth = request_auth(options.auth)
    shown = shown_url(url)
    failures = 0
    rate_limited = 0
    while True:
        try:
            response = netguard.request(
                "GET",
                url,
                params=auth.params or None,
                headers={"User-Agent": USER_AGENT, **auth.headers},
                auth=auth.basic,
                stream=True,
                timeout=options.timeout_s,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            failures += 1
            if failures > options.retries:
                raise ConnectorError(
                    f"could not fetch the feed {shown}: {_reason(exc, options.timeout_s)} "
                    f"({_times(failures)}); check `url`, or try again later"
                ) from None
            options.sleep(backoff_s(failures))
            continue
        except requests.RequestException as exc:
            reason = type(exc).__name__
            raise ConnectorError(f"could not fetch the feed {shown}: {reason}") from None
        status = response.status_code
        if status < 400:
            return response
        wait_s = retry_after_s(response.headers.get("Retry-After"))
        answered = f"fetching the feed {shown} answered HTTP {status} ({response.reason})"
        response.close()
        if status == 429:
            rate_limited += 1
            if rate_limited > RATE_LIMIT_WAITS:
                raise ConnectorError(
                    f"{answered} {_times(rate_limited)} in a row; try again later, or run "
                    "this job less often"
                )
            options.sleep(wait_s if wait_s is not None else backoff_s(rate_limited))
            continue
        if status >= 500 or status == 408:
            failures += 1
            if failures > options.retries:
                raise ConnectorError(
                    f"{answered} {_times(failures)}; the server has a problem, try again later"
                )
            options.sleep(max(backoff_s(failures), wait_s or 0.0))
            continue
        raise ConnectorError(answered + _hint(status))


def shown_url(url: str) -> str:
    """`url` as it may appear in messages: without a password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _hint(status: int) -> str:
    if status in (401, 403):
        return "; check `auth`"
    if status in (404, 410):
        return "; check `url`"
    return ""


def _reason(exc: requests.RequestException, timeout_s: float) -> str:
    """Why a request failed, without the URL (which may carry a query-string secret)."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout_s:g} s"
    found = _ERRNO.search(str(exc))
    return found.group(0).strip() if found else "the connection failed"


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"
