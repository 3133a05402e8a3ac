"""The alerts a project configures, checked and normalized.

    {"when": "count_drop_pct", "threshold": 20, "notify": [...]}
        the catalog shrank by more than `threshold` % (0-100) against the run before
    {"when": "out_of_stock_over", "threshold": 50, "stock_field": "stock", "notify": [...]}
        more than `threshold` records have `stock_field` <= 0 (`stock_field` default "stock")
    {"when": "source_failed", "notify": [...]}      a source could not be imported
    {"when": "run_held", "notify": [...]}           the run was held (safety stop)

`notify` lists one or more targets: `{"webhook": "https://…", "secret": "…"}` (a JSON POST,
signed with HMAC-SHA256 when a secret is given) or `{"email": "ops@example.com"}`.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from core import netguard
from core.errors import Invalid

CONDITIONS: dict[str, dict[str, Any]] = {
    # condition -> its own keys and their defaults (`...`: required)
    "count_drop_pct": {"threshold": ...},
    "out_of_stock_over": {"threshold": ..., "stock_field": "stock"},
    "source_failed": {},
    "run_held": {},
}
MAX_ALERTS = 50
MAX_TARGETS = 10
_EMAIL = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\".]+")


class _Problems:
    """Collects every problem under its path, so one answer lists all of them."""

    def __init__(self) -> None:
        self.errors: dict[int, dict[str, Any]] = {}
        self.lines: list[str] = []

    def add(self, index: int, name: str, message: str, target: int | None = None) -> None:
        entry = self.errors.setdefault(index, {})
        if target is None:
            entry.setdefault(name, []).append(message)
            self.lines.append(f"alerts[{index}].{name}: {message}")
        else:
            targets = entry.setdefault("notify", {}).setdefault(target, {})
            targets.setdefault(name, []).append(message)
            self.lines.append(f"alerts[{index}].notify[{target}].{name}: {message}")


def validate_alerts(data: object) -> list[dict[str, Any]]:
    """`data` as a list of normalized alert configs; `Invalid` naming each index and field."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise Invalid("alerts must be a list", errors={"alerts": ["must be a list"]})
    if len(data) > MAX_ALERTS:
        raise Invalid(f"at most {MAX_ALERTS} alerts", errors={"alerts": ["too many"]})
    problems = _Problems()
    alerts = [_alert(i, item, problems) for i, item in enumerate(data)]
    if problems.lines:
        raise Invalid(
            "invalid alerts: " + "; ".join(problems.lines), errors={"alerts": problems.errors}
        )
    return alerts


def _alert(index: int, item: object, problems: _Problems) -> dict[str, Any]:
    if not isinstance(item, dict):
        problems.add(index, "_schema", 'must be an object like {"when": ..., "notify": [...]}')
        return {}
    when = item.get("when")
    if not isinstance(when, str) or when not in CONDITIONS:
        problems.add(index, "when", f"must be one of {', '.join(CONDITIONS)}; got {when!r}")
        return {}
    own = CONDITIONS[when]
    for name in sorted(set(item) - {"when", "notify", *own}):
        problems.add(index, name, f"unknown for {when!r}; it takes: {', '.join(['notify', *own])}")
    alert: dict[str, Any] = {"when": when}
    for name, default in own.items():
        value = item.get(name, default)
        if value is ...:
            problems.add(index, name, "is required")
        elif name == "threshold":
            alert[name] = _threshold(index, when, value, problems)
        elif not isinstance(value, str) or not value:
            problems.add(index, name, "must be a field name")
        else:
            alert[name] = value
    alert["notify"] = _targets(index, item.get("notify"), problems)
    return alert


def _threshold(index: int, when: str, value: Any, problems: _Problems) -> float | int | None:
    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if when == "count_drop_pct":
        if not number or not 0 <= value < 100:
            problems.add(index, "threshold", "must be a percentage from 0 up to (not incl.) 100")
            return None
        return value
    if not number or value < 0 or value != int(value):
        problems.add(index, "threshold", "must be a whole number of records, 0 or more")
        return None
    return int(value)


def _targets(index: int, value: Any, problems: _Problems) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        problems.add(
            index, "notify", 'must list at least one {"webhook": url} or {"email": address}'
        )
        return []
    if len(value) > MAX_TARGETS:
        problems.add(index, "notify", f"at most {MAX_TARGETS} targets")
        return []
    targets = []
    for number, target in enumerate(value):
        checked = _target(index, number, target, problems)
        if checked is not None:
            targets.append(checked)
    return targets


def _target(index: int, number: int, target: Any, problems: _Problems) -> dict[str, Any] | None:
    if not isinstance(target, dict) or ("webhook" in target) == ("email" in target):
        problems.add(index, "_schema", 'must be {"webhook": url} or {"email": address}', number)
        return None
    if "email" in target:
        for name in sorted(set(target) - {"email"}):
            problems.add(index, name, "unknown for an email target", number)
        address = target["email"]
        if not isinstance(address, str) or not _EMAIL.fullmatch(address):
            problems.add(index, "email", f"{address!r} is not an email address", number)
            return None
        return {"email": address}
    for name in sorted(set(target) - {"webhook", "secret"}):
        problems.add(index, name, "unknown for a webhook target (it takes webhook, secret)", number)
    url = target["webhook"]
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        problems.add(index, "webhook", f"{url!r} is not an http(s) URL", number)
        return None
    try:
        netguard.check_url(url)
    except netguard.UrlNotAllowed as exc:
        problems.add(index, "webhook", exc.text, number)
        return None
    secret = target.get("secret")
    if secret is not None and (not isinstance(secret, str) or not secret):
        problems.add(index, "secret", "must be a non-empty string", number)
        return None
    return {"webhook": url, "secret": secret}
