"""The outcome of delivering one alert to one target."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryResult:
    """`target` is the webhook URL or the email address; `error` says what went wrong."""

    alert: str
    kind: str  # "webhook" | "email"
    target: str
    ok: bool
    error: str | None = None
    status: int | None = None  # the webhook's HTTP status, when it answered
