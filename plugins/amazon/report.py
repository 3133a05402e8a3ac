"""Amazon's processing report of a JSON_LISTINGS_FEED, read as one result per record.

The report lists issues (`{messageId, sku, code, severity, message, attributeName(s)}`);
a record with an `ERROR` fails with Amazon's code(s) and message(s), joined when there are
several; `WARNING` and `INFO` do not fail it. An error that names no message (a problem of
the whole feed), or a message this connection cannot place, fails every record of the feed:
they are sent again, which is harmless, rather than wrongly marked done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from plugins.base import ChangeResult

MESSAGE_LIMIT = 1000


def results_of(
    report: Mapping[str, Any], keys: Iterable[str], skus: Sequence[str] | None
) -> list[ChangeResult]:
    """One result per key of the feed; `skus` is the SKU of each message in messageId order
    (None when not known: issues must then name their SKU)."""
    by_message: dict[Any, str] = dict(enumerate(skus or (), start=1))
    errors: dict[str, list[Mapping[str, Any]]] = {}
    whole_feed: list[Mapping[str, Any]] = []
    for issue in report.get("issues") or ():
        if not isinstance(issue, Mapping) or str(issue.get("severity")).upper() != "ERROR":
            continue
        sku = issue.get("sku") or by_message.get(issue.get("messageId"))
        if sku:
            errors.setdefault(str(sku), []).append(issue)
        else:
            whole_feed.append(issue)
    results = []
    for key in keys:
        issues = errors.get(key, []) + whole_feed
        results.append(failed(key, issues) if issues else ChangeResult(key, True))
    return results


def failed(key: str, issues: Sequence[Mapping[str, Any]], prefix: str = "") -> ChangeResult:
    codes = list(dict.fromkeys(str(i.get("code") or "AMAZON") for i in issues))
    messages = list(dict.fromkeys(describe(i) for i in issues))
    text = prefix + "; ".join(messages)
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 1] + "…"
    return ChangeResult(key, False, ",".join(codes), text)


def describe(issue: Mapping[str, Any]) -> str:
    message = str(issue.get("message") or "no message").strip()
    names = issue.get("attributeNames") or (
        [issue["attributeName"]] if issue.get("attributeName") else []
    )
    return f"{message} ({', '.join(map(str, names))})" if names else message
