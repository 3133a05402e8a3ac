"""One change, one message of a JSON_LISTINGS_FEED: which operation, with what.

- insert → `UPDATE` with every mapped attribute;
- update whose stock alone differs from what Amazon accepted → `PATCH` replacing
  `/attributes/fulfillment_availability` (a few bytes instead of the whole listing);
- update where nothing Amazon holds differs (e.g. an unmapped field changed) → no message,
  acknowledged at once;
- any other update → `UPDATE` with every mapped attribute;
- delist → `PATCH` replacing `/attributes/fulfillment_availability` with quantity 0: the
  listing stays, it just cannot be bought;
- delete → `DELETE`.

The SKU is the record's key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plugins.amazon.attributes import AVAILABILITY, Shaping, Unexpressible, attributes_of
from plugins.amazon.attributes import availability as availability_of
from plugins.amazon.memory import ListingMemory, Sent
from plugins.base import Change


@dataclass(frozen=True)
class Planned:
    """A message (its messageId comes with its document) and what it asks Amazon to hold."""

    key: str
    message: dict[str, Any]
    sent: Sent


class MessagePlanner:
    def __init__(self, settings: Mapping[str, Any], memory: ListingMemory) -> None:
        self.settings = settings
        self.memory = memory
        self.mapping: dict[str, str] = dict(settings["attribute_map"])
        self.required = frozenset(settings["required_fields"])
        self.shaping = Shaping(
            marketplace_ids=tuple(settings["marketplace_ids"]),
            currency=settings["currency"],
            language_tag=settings["language_tag"],
            fulfillment_channel_code=settings["fulfillment_channel_code"],
        )

    def plan(self, change: Change) -> Planned | None:
        """The message for `change`, or None when Amazon already holds exactly this; raises
        `Unexpressible` for a record that cannot be a listing."""
        if change.op == "delete":
            deletion = {"sku": change.key, "operationType": "DELETE"}
            return Planned(change.key, deletion, Sent(None, None, deleted=True))
        if change.op == "delist":
            known = self.memory.accepted(change.key)
            nothing = availability_of(0, self.shaping)
            return Planned(
                change.key,
                self._stock_patch(change.key, nothing),
                Sent(known.body if known else None, digest(nothing)),
            )
        if change.op not in ("insert", "update"):
            raise Unexpressible(f"the change's operation {change.op!r} is unknown")
        if change.data is None:
            raise Unexpressible("the change carries no record")
        attributes = attributes_of(change.data, self.mapping, self.required, self.shaping)
        stock = attributes.get(AVAILABILITY)
        body = digest(
            {
                "productType": self.settings["product_type"],
                "requirements": self.settings["requirements"],
                "attributes": {k: v for k, v in attributes.items() if k != AVAILABILITY},
            }
        )
        sent = Sent(body, digest(stock) if stock is not None else None)
        known = self.memory.accepted(change.key) if change.op == "update" else None
        if known is not None and known.body == body:
            if known.stock is not None and known.stock == sent.stock:
                return None
            if stock is not None:
                return Planned(change.key, self._stock_patch(change.key, stock), sent)
        message = {
            "sku": change.key,
            "operationType": "UPDATE",
            "productType": self.settings["product_type"],
            "requirements": self.settings["requirements"],
            "attributes": attributes,
        }
        return Planned(change.key, message, sent)

    def _stock_patch(self, sku: str, stock: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "sku": sku,
            "operationType": "PATCH",
            "productType": self.settings["product_type"],
            "patches": [{"op": "replace", "path": f"/attributes/{AVAILABILITY}", "value": stock}],
        }


def digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
