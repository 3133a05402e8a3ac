"""The shop's order flows.

`orders.download` reads the orders modified since the cursor (less the overlap window), stores
each page in the project's `orders` documents keyed by order id, and only then moves the
cursor (`plugins.shop.incremental`): a run killed at any point loses no order, and storing an
order again changes nothing but its data. `shipments.upload` writes back to the shop the
shipments the warehouse flow attached to orders (`marks.shipment`), once each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.clock import now_ms
from core.errors import ConnectorError
from plugins.base import TaskResult
from plugins.shop.api import ShopApi
from plugins.shop.errors import ApiError, ApiRefused, ApiUnreachable, failed_items
from plugins.shop.incremental import Cursor

if TYPE_CHECKING:
    from core.documents import ProjectDocuments

ORDERS = "orders"
CURSOR_KEY = "orders_cursor"
SHIPMENT = "shipment"
SHIPMENT_UPLOADED = "shipment_uploaded"


def download_orders(api: ShopApi, orders: ProjectDocuments | None, cursor: Cursor) -> TaskResult:
    """The count is of orders new or changed since they were last stored."""
    counts = {"pages": 0, "read": 0, "inserted": 0, "updated": 0, "unchanged": 0}
    for page in api.orders(cursor.read_from()):
        if orders is None:
            raise ConnectorError("orders.download needs the project's documents to store orders")
        stored = orders.upsert_many([(str(order["id"]), _data(order)) for order in page.items])
        counts["pages"] += 1
        counts["read"] += len(page.items)
        for name in ("inserted", "updated", "unchanged"):
            counts[name] += stored[name]
        if page.checkpoint is not None:
            cursor.advance(page.checkpoint)
    return TaskResult(count=counts["inserted"] + counts["updated"], counts=counts)


def upload_shipments(
    api: ShopApi, orders: ProjectDocuments | None, *, status: str | None
) -> TaskResult:
    """PUT each shipped order's tracking (and `status`) to the shop, then mark it uploaded.
    Failing orders do not stop the others; the run then fails naming them."""
    uploaded = 0
    if orders is None:  # a context without the project's documents: nothing to upload
        return TaskResult(count=0, counts={"uploaded": 0})
    failures: list[str] = []
    for doc in orders.without_mark(SHIPMENT_UPLOADED):
        shipment = doc.get("marks", {}).get(SHIPMENT)
        if not shipment:
            continue
        try:
            api.update_order(doc["key"], shipment_update(shipment, status))
        except (ApiRefused, ApiUnreachable):
            raise
        except ApiError as exc:
            failures.append(f"order {doc['key']}: {exc.message} ({exc.code})")
            continue
        orders.mark(
            doc["key"],
            **{SHIPMENT_UPLOADED: {"at": now_ms(), "tracking": shipment.get("tracking")}},
        )
        uploaded += 1
    if failures:
        raise failed_items("shipment(s) could not be uploaded to the shop", failures, uploaded)
    return TaskResult(count=uploaded, counts={"uploaded": uploaded})


def shipment_update(shipment: dict[str, Any], status: str | None) -> dict[str, Any]:
    """The order fields that tell the shop about a shipment; the same shipment always gives
    the same fields, so a repeated PUT changes nothing."""
    update: dict[str, Any] = {
        "meta_data": [
            {"key": "tracking_number", "value": shipment.get("tracking")},
            {"key": "tracking_carrier", "value": shipment.get("carrier")},
            {"key": "shipped_at", "value": shipment.get("shipped_at")},
        ]
    }
    if status:
        update["status"] = status
    return update


def _data(order: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in order.items() if name != "_links"}
