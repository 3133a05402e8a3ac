"""Login with Amazon: an access token from the seller's refresh token.

An access token lives an hour; it is kept in this process (never stored) and refreshed a
minute before it expires, or at once when the SP-API refuses it. Threads asking for the same
token while it is being refreshed wait for that one refresh.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from plugins.amazon.errors import AmazonAuthRefused, AmazonUnreachable
from plugins.sources.retry import backoff_s

EXPIRY_MARGIN_S = 60.0
_REFUSALS = {
    "invalid_grant": "Amazon refused the refresh token (invalid_grant): it was revoked, has "
    "expired or belongs to another app; authorize the app again in Seller Central and save "
    "the new refresh_token",
    "invalid_client": "Amazon refused the app's credentials (invalid_client): check "
    "client_id and client_secret in Seller Central (Develop Apps → LWA credentials)",
    "unauthorized_client": "Amazon does not let this app use refresh tokens "
    "(unauthorized_client): check the app's client_id",
}


@dataclass(frozen=True)
class Credentials:
    endpoint: str
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)

    @property
    def cache_key(self) -> str:
        raw = "\n".join([self.endpoint, self.client_id, self.refresh_token])
        return hashlib.sha256(raw.encode()).hexdigest()

    def scrub(self, text: str) -> str:
        """`text` without any of the secrets in it."""
        for secret in (self.client_secret, self.refresh_token):
            text = text.replace(secret, "***")
        return text


class AccessTokens:
    """Access tokens per credentials, cached in this process. `clock` (seconds) and `sleep`
    are injectable for tests."""

    _guard = threading.Lock()
    _locks: dict[str, threading.Lock] = {}
    _tokens: dict[str, tuple[str, float]] = {}  # cache key → (token, expires at by `clock`)

    def __init__(
        self,
        credentials: Credentials,
        *,
        session: requests.Session,
        timeout_s: float,
        retries: int,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = credentials
        self.session = session
        self.timeout_s = timeout_s
        self.retries = retries
        self.sleep = sleep
        self.clock = clock
        self.key = credentials.cache_key

    def get(self) -> str:
        """A valid access token, refreshed when the cached one is about to expire."""
        with self._lock():
            cached = self._tokens.get(self.key)
            if cached is not None and self.clock() < cached[1]:
                return cached[0]
            token, lifetime_s = self._refresh()
            expires_at = self.clock() + max(0.0, lifetime_s - EXPIRY_MARGIN_S)
            self._tokens[self.key] = (token, expires_at)
            return token

    def invalidate(self, token: str) -> None:
        """Forget `token` (the SP-API refused it); another thread's newer one is kept."""
        with self._guard:
            cached = self._tokens.get(self.key)
            if cached is not None and cached[0] == token:
                del self._tokens[self.key]

    @classmethod
    def forget_all(cls) -> None:
        with cls._guard:
            cls._tokens.clear()

    def _lock(self) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(self.key, threading.Lock())

    def _refresh(self) -> tuple[str, float]:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self.credentials.refresh_token,
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret,
        }
        failures = 0
        while True:
            problem: str
            try:
                answer = self.session.post(
                    self.credentials.endpoint, data=form, timeout=self.timeout_s
                )
            except requests.RequestException as exc:
                problem = type(exc).__name__
            else:
                if answer.status_code == 200:
                    return _token_of(answer)
                if answer.status_code < 500 and answer.status_code != 429:
                    raise self._refused(answer)
                problem = f"HTTP {answer.status_code}"
            failures += 1
            if failures > self.retries:
                raise AmazonUnreachable(
                    f"Login with Amazon ({self.credentials.endpoint}) gave no access token: "
                    f"{problem} ({failures} attempts); try again later"
                )
            self.sleep(backoff_s(failures))

    def _refused(self, answer: requests.Response) -> AmazonAuthRefused:
        """The refusal as a user can act on it (`{"error", "error_description"}`)."""
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        error = str(body.get("error") or "")
        if error in _REFUSALS:
            return AmazonAuthRefused(_REFUSALS[error], code=f"LWA_{error}")
        said = self.credentials.scrub(str(body.get("error_description") or "")[:200])
        reason = ": ".join(filter(None, [error or f"HTTP {answer.status_code}", said]))
        return AmazonAuthRefused(
            f"Login with Amazon refused to give an access token ({reason}); check "
            "client_id, client_secret and refresh_token"
        )


def _token_of(answer: requests.Response) -> tuple[str, float]:
    try:
        body = answer.json()
        return str(body["access_token"]), float(body.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError):
        raise AmazonUnreachable(
            "Login with Amazon answered without an access token; try again later"
        ) from None
