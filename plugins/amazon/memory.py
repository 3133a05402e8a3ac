"""What Amazon holds for each SKU, as far as this connection knows, and which SKU each message
of a feed was: kept in the connection's state between runs.

Per SKU (`listing:<sku>`): hashes of the attributes other than the stock (`body`) and of the
stock (`stock`) that Amazon last *accepted*, and what is on its way (`pending`, with the feed's
ticket) until that feed's report says yes or no. Only accepted data lets the next change be
sent as a small stock PATCH: a rejected full update is sent in full again.

Per feed (`feed:<feed id>`): the SKU of each message, in messageId order, so that an issue
naming only its messageId still finds its record.

Without a state (`None`) nothing is remembered: every change is sent in full.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

LISTING = "listing:"
FEED = "feed:"


@dataclass(frozen=True)
class Sent:
    """What a message asks Amazon to hold for a SKU."""

    body: str | None
    stock: str | None
    deleted: bool = False


class ListingMemory:
    def __init__(self, state: MutableMapping[str, Any] | None) -> None:
        self.state = state

    def accepted(self, sku: str) -> Sent | None:
        """What Amazon surely holds for `sku`: what it last accepted, with the stock left out
        (`None`) while a feed may still change it, and nothing while a feed may change more."""
        entry = self._entry(sku)
        if entry is None:
            return None
        body, stock = entry.get("body"), entry.get("stock")
        pending = entry.get("pending")
        if pending:
            if pending.get("deleted") or pending.get("body") != body:
                return None
            stock = None
        if body is None and stock is None:
            return None
        return Sent(body, stock)

    def submitted(self, ticket: str, messages: list[tuple[str, Sent]]) -> None:
        """The feed `ticket` carries `messages` (SKU and what it asks), in messageId order."""
        if self.state is None:
            return
        self.state[FEED + ticket] = [sku for sku, _ in messages]
        for sku, sent in messages:
            entry = self._entry(sku) or {}
            entry["pending"] = {
                "ticket": ticket,
                "body": sent.body,
                "stock": sent.stock,
                "deleted": sent.deleted,
            }
            self.state[LISTING + sku] = entry

    def skus_of(self, ticket: str) -> list[str] | None:
        if self.state is None:
            return None
        skus = self.state.get(FEED + ticket)
        return list(skus) if isinstance(skus, list) else None

    def settle(self, ticket: str, sku: str, ok: bool) -> None:
        """Amazon said `ok` about `sku` in feed `ticket`: what it asked is now accepted, or
        forgotten. A newer feed's pending data for the SKU is left alone."""
        entry = self._entry(sku)
        if self.state is None or entry is None:
            return
        pending = entry.get("pending") or {}
        if pending.get("ticket") != ticket:
            return
        del entry["pending"]
        if ok and pending.get("deleted"):
            self.state.pop(LISTING + sku, None)
            return
        if ok:
            entry["body"], entry["stock"] = pending.get("body"), pending.get("stock")
        self.state[LISTING + sku] = entry

    def forget_feed(self, ticket: str) -> None:
        if self.state is not None:
            self.state.pop(FEED + ticket, None)

    def _entry(self, sku: str) -> dict[str, Any] | None:
        if self.state is None:
            return None
        entry = self.state.get(LISTING + sku)
        return dict(entry) if isinstance(entry, dict) else None
