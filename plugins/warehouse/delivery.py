"""`orders.deliver`: the project's orders that are ready (by status) and not yet delivered go
to the warehouse, each marked `delivered` with the warehouse's id once it took them.

The warehouse knows an order by its external reference, so an order sent again (the run died
after the POST, before the mark) answers 409 and is marked delivered then: a crash never makes
a second shipment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.clock import now_ms
from plugins.base import TaskResult
from plugins.shop.errors import ApiError, ApiRefused, ApiUnreachable, failed_items
from plugins.warehouse.api import WarehouseApi

if TYPE_CHECKING:
    from core.documents import ProjectDocuments

DELIVERED = "delivered"


def deliver_orders(
    api: WarehouseApi,
    orders: ProjectDocuments | None,
    *,
    statuses: list[str],
    prefix: str,
) -> TaskResult:
    """Orders the warehouse refuses do not stop the others; the run then fails naming them."""
    counts = {"delivered": 0, "already_known": 0}
    if orders is None:  # a context without the project's documents: nothing to deliver
        return TaskResult(count=0, counts=counts)
    failures: list[str] = []
    for doc in orders.without_mark(DELIVERED):
        if doc["data"].get("status") not in statuses:
            continue
        try:
            warehouse_id, created = api.create_order(warehouse_order(doc["data"], prefix))
        except (ApiRefused, ApiUnreachable):
            raise
        except ApiError as exc:
            failures.append(f"order {doc['key']}: {exc.message} ({exc.code})")
            continue
        orders.mark(doc["key"], **{DELIVERED: {"id": warehouse_id, "at": now_ms()}})
        counts["delivered" if created else "already_known"] += 1
    done = counts["delivered"] + counts["already_known"]
    if failures:
        raise failed_items("order(s) could not be delivered to the warehouse", failures, done)
    return TaskResult(count=done, counts=counts)


def warehouse_order(order: dict[str, Any], prefix: str) -> dict[str, Any]:
    """What the warehouse needs to ship a shop order (WooCommerce's order shape)."""
    billing = order.get("billing") or {}
    methods = [line.get("method_title") for line in order.get("shipping_lines") or []]
    return {
        "reference": f"{prefix}{order['id']}",
        "number": order.get("number"),
        "ordered_at": order.get("date_created_gmt"),
        "email": billing.get("email"),
        "phone": billing.get("phone"),
        "shipping_address": order.get("shipping") or {},
        "shipping_method": next((m for m in methods if m), None),
        "note": order.get("customer_note") or None,
        "lines": [
            {"sku": line.get("sku"), "name": line.get("name"), "quantity": line.get("quantity")}
            for line in order.get("line_items") or []
        ],
    }
