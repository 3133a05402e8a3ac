"""Webhook delivery: a JSON POST of the alert, signed when the target has a secret.

The signature is `X-Syncfarm-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with
the secret>`; a receiver recomputes it over the bytes it received and compares in constant
time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

import requests

from core import netguard
from core.alerts.delivery import DeliveryResult
from core.alerts.evaluate import Alert

SIGNATURE_HEADER = "X-Syncfarm-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_alert(alert: Alert, target: dict[str, Any], *, timeout_s: float) -> DeliveryResult:
    url = target["webhook"]
    body = json.dumps(alert.payload(), separators=(",", ":"), default=str).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "syncfarm-alerts",
        "X-Syncfarm-Event": f"alert.{alert.when}",
    }
    if target.get("secret"):
        headers[SIGNATURE_HEADER] = signature(target["secret"], body)

    def failed(error: str, status: int | None = None) -> DeliveryResult:
        return DeliveryResult(alert.when, "webhook", url, False, error, status)

    try:
        # stream: the answer's body is never read (nor kept), only its status
        # checked right before connecting: the address may have changed since it was saved
        response = netguard.request(
            "POST",
            url,
            data=body,
            headers=headers,
            timeout=timeout_s,
            allow_redirects=False,
            stream=True,
        )
        response.close()
    except netguard.UrlRefused as exc:
        return failed(f"{redacted(url)} is not allowed: {exc.reason}; {netguard.HINT}")
    except requests.Timeout:
        return failed(f"{redacted(url)} did not answer within {timeout_s:g} s")
    except requests.RequestException as exc:
        return failed(f"could not reach {redacted(url)}: {type(exc).__name__}")
    if not 200 <= response.status_code < 300:
        # not the body: echoing what an internal address answered would leak it
        return failed(f"{redacted(url)} answered HTTP {response.status_code}", response.status_code)
    return DeliveryResult(alert.when, "webhook", url, True, status=response.status_code)


def redacted(url: str) -> str:
    """The URL with only scheme and host: webhook paths and queries often hold tokens."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"
