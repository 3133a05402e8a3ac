"""JSON over HTTP with the farm's retry policy, for the shop and the warehouse connectors.

Connection errors, timeouts, 408 and 5xx answers are retried `retries` times with backoff
(`plugins.sources.retry`); 429 answers wait as `Retry-After` says, counted apart. Every write
these connectors make is safe to repeat (absolute stock values, a PUT of an order's state, a
POST carrying an external reference the warehouse deduplicates), so writes retry like reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from marshmallow import Schema, fields, validate

from core import netguard
from plugins.shop.errors import ApiError, ApiRefused, ApiUnreachable
from plugins.sources.retry import backoff_s, retry_after_s

RATE_LIMIT_WAITS = 5


class HttpSettings(Schema):
    """Settings every JSON-over-HTTP connector has."""

    timeout_s = fields.Float(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=0, min_inclusive=False, max=3600),
        metadata={"description": "seconds to wait for an answer; default: the farm's"},
    )
    retries = fields.Integer(
        load_default=3,
        validate=validate.Range(min=0, max=10),
        metadata={"description": "times to retry after a connection error or a 5xx answer"},
    )


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Credentials:
    """What authenticates a request: HTTP basic, headers and/or query parameters."""

    basic: tuple[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)


class JsonApi:
    """Requests to one service under `base_url`; `label` names it in messages ("the shop")."""

    def __init__(
        self,
        base_url: str,
        *,
        label: str,
        credentials: Credentials,
        timeout_s: float,
        retries: int,
        user_agent: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.label = f"{label} ({urlsplit(base_url).netloc})"
        self.credentials = credentials
        self.timeout_s = timeout_s
        self.retries = retries
        self.sleep = sleep
        # every request is checked right before connecting (core.netguard)
        self.session = netguard.guard_session(requests.Session())
        self.session.headers.update(
            {"User-Agent": user_agent, "Accept": "application/json", **credentials.headers}
        )
        self.session.auth = credentials.basic

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        accept: Collection[int] = (),
    ) -> Answer:
        """The service's answer: a 2xx, or a status listed in `accept`; else `ApiError`."""
        shown = f"{method} {path}"
        failures = rate_limited = 0
        while True:
            try:
                response = self.session.request(
                    method,
                    self.base_url + path,
                    params={**(params or {}), **self.credentials.params},
                    json=json,
                    timeout=self.timeout_s,
                )
            except requests.RequestException as exc:
                failures += 1
                if failures > self.retries:
                    raise ApiUnreachable(
                        f"{self.label} did not answer {shown}: {_reason(exc, self.timeout_s)} "
                        f"({_attempts(failures)}); try again later"
                    ) from None
                self.sleep(backoff_s(failures))
                continue
            status = response.status_code
            if status < 300 or status in accept:
                return Answer(status, _json(response, self.label, shown), response.headers)
            wait_s = retry_after_s(response.headers.get("Retry-After"))
            if status == 429 and rate_limited < RATE_LIMIT_WAITS:
                rate_limited += 1
                self.sleep(wait_s if wait_s is not None else backoff_s(rate_limited))
                continue
            if (status >= 500 or status == 408) and failures < self.retries:
                failures += 1
                self.sleep(max(backoff_s(failures), wait_s or 0.0))
                continue
            raise _error(response, self.label, shown)


def _json(response: requests.Response, label: str, shown: str) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ApiError(
            f"{label} answered {shown} with something that is not JSON "
            f"(HTTP {response.status_code}, {response.headers.get('Content-Type', 'no type')}); "
            "check `base_url`",
            status=response.status_code,
        ) from None


def _error(response: requests.Response, label: str, shown: str) -> ApiError:
    status = response.status_code
    code, message = None, response.reason
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("code") if isinstance(body.get("code"), str) else None
        message = str(body.get("message") or message)
    said = f"{label} answered HTTP {status} to {shown}: {message}"
    if status in (401, 403):
        return ApiRefused(f"{said}; check the connection's credentials", status=status, code=code)
    if status >= 500 or status in (408, 429):
        return ApiUnreachable(f"{said}; try again later", status=status, code=code)
    return ApiError(said, status=status, code=code)


def _reason(exc: requests.RequestException, timeout_s: float) -> str:
    """Why a request failed, without the URL (which may carry query-string credentials)."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, requests.ConnectionError):
        return "the connection failed"
    return type(exc).__name__


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"
