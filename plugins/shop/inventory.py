"""Inventory upload: the stock (and optionally the price) of changed records, sent to the shop
through WooCommerce's batch endpoints, one result per change.

Records are keyed by the shop's SKU. The shop wants product ids, so SKUs are looked up (up to
100 in one request, products and variations alike) and kept in the connection's state for a
day; a variation is updated through its parent's `variations/batch`. A record gone from the
catalog (a delist, or a delete) sets the stock to 0: inventory upload never deletes products.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any

from plugins.base import Change, ChangeResult
from plugins.shop.api import BATCH_LIMIT, ShopApi
from plugins.shop.errors import ApiError, ApiRefused, ApiUnreachable

LOOKUP_PREFIX = "sku:"
LOOKUP_TTL_S = 24 * 3600
UNKNOWN_SKU = "unknown_sku"
INVALID_VALUE = "invalid_value"
SKU_MOVED = "sku_moved"
INVALID_ID_CODES = frozenset(
    {"woocommerce_rest_product_invalid_id", "woocommerce_rest_product_variation_invalid_id"}
)


@dataclass(frozen=True)
class Target:
    id: int
    parent_id: int | None


class SkuLookup:
    """SKU → the shop's product (or variation) id, remembered in the connection's state."""

    def __init__(self, api: ShopApi, state: MutableMapping[str, Any]) -> None:
        self.api = api
        self.state = state

    def resolve(self, skus: list[str]) -> dict[str, Target]:
        found: dict[str, Target] = {}
        missing: list[str] = []
        now = time.time()
        for sku in skus:
            known = self.state.get(LOOKUP_PREFIX + sku)
            if known and now - known.get("at", 0) < LOOKUP_TTL_S:
                found[sku] = Target(known["id"], known.get("parent_id"))
            else:
                missing.append(sku)
        if missing:
            for product in self.api.find_skus(missing):
                sku = str(product.get("sku") or "")
                if sku in missing:
                    target = Target(int(product["id"]), int(product.get("parent_id") or 0) or None)
                    found[sku] = target
                    self.state[LOOKUP_PREFIX + sku] = {
                        "id": target.id,
                        "parent_id": target.parent_id,
                        "at": now,
                    }
        return found

    def forget(self, sku: str) -> None:
        self.state.pop(LOOKUP_PREFIX + sku, None)


class InventoryUpload:
    def __init__(
        self,
        api: ShopApi,
        state: MutableMapping[str, Any],
        *,
        stock_field: str,
        price_field: str | None,
    ) -> None:
        self.api = api
        self.lookup = SkuLookup(api, state)
        self.stock_field = stock_field
        self.price_field = price_field

    def send(self, changes: Iterable[Change]) -> Iterator[ChangeResult]:
        pending = iter(changes)
        while chunk := list(islice(pending, BATCH_LIMIT)):
            yield from self._send_chunk(chunk)

    def _send_chunk(self, chunk: list[Change]) -> Iterator[ChangeResult]:
        updates: dict[str, dict[str, Any]] = {}
        for change in chunk:
            update, problem = self._update(change)
            if problem:
                yield ChangeResult(change.key, False, INVALID_VALUE, problem)
            else:
                updates[change.key] = update
        targets = self.lookup.resolve(list(updates))
        groups: dict[int | None, list[tuple[str, Target]]] = {}
        for sku in updates:
            target = targets.get(sku)
            if target is None:
                yield ChangeResult(
                    sku, False, UNKNOWN_SKU, f"no product or variation in the shop has SKU {sku!r}"
                )
            else:
                groups.setdefault(target.parent_id, []).append((sku, target))
        for parent_id, members in groups.items():
            yield from self._send_group(parent_id, members, updates)

    def _send_group(
        self,
        parent_id: int | None,
        members: list[tuple[str, Target]],
        updates: dict[str, dict[str, Any]],
    ) -> Iterator[ChangeResult]:
        body = [{"id": target.id, **updates[sku]} for sku, target in members]
        try:
            answers = self.api.update_stock(parent_id, body)
        except (ApiRefused, ApiUnreachable):
            raise  # nothing will go better for the other records: the run fails, all stay due
        except ApiError as exc:
            for sku, _ in members:
                yield ChangeResult(sku, False, exc.code, exc.message)
            return
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        for sku, target in members:
            answer = by_id.get(target.id)
            if answer is None:
                yield ChangeResult(sku, False, "no_result", "the shop did not answer for it")
            elif isinstance(answer.get("error"), dict):
                error = answer["error"]
                if error.get("code") in INVALID_ID_CODES:
                    self.lookup.forget(sku)
                yield ChangeResult(sku, False, error.get("code"), error.get("message"))
            elif answer.get("sku") not in (None, sku):
                self.lookup.forget(sku)
                yield ChangeResult(
                    sku,
                    False,
                    SKU_MOVED,
                    f"product {target.id} now has SKU {answer['sku']!r}; sent again, the SKU "
                    "is looked up afresh",
                )
            else:
                yield ChangeResult(sku, True)

    def _update(self, change: Change) -> tuple[dict[str, Any], str | None]:
        """The fields to send for `change`, or why there are none."""
        if change.op in ("delist", "delete") or change.data is None:
            return {"manage_stock": True, "stock_quantity": 0}, None
        stock = _quantity(change.data.get(self.stock_field))
        if stock is None:
            shown = change.data.get(self.stock_field)
            return {}, f"the record's {self.stock_field!r} is not a quantity: {shown!r}"
        update: dict[str, Any] = {"manage_stock": True, "stock_quantity": stock}
        if self.price_field:
            price = _price(change.data.get(self.price_field))
            if price is None:
                shown = change.data.get(self.price_field)
                return {}, f"the record's {self.price_field!r} is not a price: {shown!r}"
            update["regular_price"] = price
        return update, None


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _quantity(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number == number.to_integral_value() else None


def _price(value: Any) -> str | None:
    number = _number(value)
    return f"{number:f}" if number is not None and number >= 0 else None
