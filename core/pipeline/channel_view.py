"""How a channel sees a record: the project's rules, then the rules its settings make
(currency, price margin, defaults), then its own rules."""

from __future__ import annotations

from typing import Any

from core.channel_settings import settings_rules
from core.pipeline.hashing import content_hash
from core.rules import RuleSet, chain, compile_rules


def channel_rules(project: dict[str, Any], channel: dict[str, Any], key: str) -> RuleSet:
    return chain(
        compile_rules(project.get("rules") or [], key=key),
        compile_rules(settings_rules(channel, key), key=key, path="channel settings"),
        compile_rules(channel.get("rules") or [], key=key),
    )


def rules_fingerprint(project: dict[str, Any], channel: dict[str, Any]) -> str:
    """What decides a channel's view besides the records; when it moves, views are recomputed."""
    return content_hash(
        [
            project.get("rules") or [],
            channel.get("rules") or [],
            sorted(channel.get("read_only_fields") or []),
            *([settings_rules(channel)] if settings_rules(channel) else []),
        ]
    )
