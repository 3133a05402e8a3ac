"""Grouping issues by pattern, so an operator fixes a cause once instead of reading a thousand
copies of it: same channel, same platform code, same message once record keys and numbers are
masked."""

from __future__ import annotations

import re
from typing import Any

from core.store import Store

SAMPLE_KEYS = 5
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_QUOTED = re.compile(r"'[^']{0,200}'|\"[^\"]{0,200}\"")


def pattern_of(message: str | None, key: str) -> str:
    """`Invalid GTIN 123 for 'A-1'` → `Invalid GTIN <n> for <value>` (the key masked too)."""
    text = message or ""
    if key and key != "*":
        text = text.replace(key, "<key>")
    text = _QUOTED.sub("<value>", text)
    return _NUMBER.sub("<n>", text)


def troubleshoot(store: Store, project_id: str) -> list[dict[str, Any]]:
    """The project's open issues grouped by (channel, code, pattern), largest group first."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for issue in store.issues.find({"project_id": project_id}):
        pattern = pattern_of(issue.get("message"), issue["key"])
        group_key = (issue["connection_id"], issue.get("code") or "", pattern)
        group = groups.setdefault(
            group_key,
            {
                "connection_id": issue["connection_id"],
                "code": issue.get("code"),
                "pattern": pattern,
                "example": issue.get("message"),
                "count": 0,
                "needs_person": 0,
                "sample_keys": [],
                "first_seen": issue.get("first_seen"),
                "last_seen": issue.get("last_seen"),
            },
        )
        group["count"] += 1
        group["needs_person"] += 1 if issue.get("needs_person") else 0
        if len(group["sample_keys"]) < SAMPLE_KEYS:
            group["sample_keys"].append(issue["key"])
        group["first_seen"] = min(group["first_seen"] or 0, issue.get("first_seen") or 0)
        group["last_seen"] = max(group["last_seen"] or 0, issue.get("last_seen") or 0)
    return sorted(groups.values(), key=lambda g: (-g["count"], g["pattern"]))
