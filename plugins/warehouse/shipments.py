"""`shipments.download`: the warehouse's shipments updated since the cursor (less the overlap
window) are attached to their orders as `marks.shipment`, which the shop's `shipments.upload`
sends on; the cursor moves only once a page's shipments are attached
(`plugins.shop.incremental`). Attaching the same shipment again changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugins.base import TaskResult
from plugins.shop.incremental import Cursor
from plugins.warehouse.api import WarehouseApi

if TYPE_CHECKING:
    from core.documents import ProjectDocuments

SHIPMENT = "shipment"
CURSOR_KEY = "shipments_cursor"


def download_shipments(
    api: WarehouseApi, orders: ProjectDocuments | None, cursor: Cursor, *, prefix: str
) -> TaskResult:
    """The count is of shipments newly attached (or changed); shipments of orders this
    project does not have (another shop on the same warehouse account) are counted apart."""
    counts = {"pages": 0, "read": 0, "attached": 0, "unchanged": 0, "unknown": 0}
    if orders is None:  # a context without the project's documents: nothing to attach to
        return TaskResult(count=0, counts=counts)
    for page in api.shipments(cursor.read_from()):
        counts["pages"] += 1
        for shipment in page.items:
            counts["read"] += 1
            counts[_attach(orders, shipment, prefix)] += 1
        if page.checkpoint is not None:
            cursor.advance(page.checkpoint)
    return TaskResult(count=counts["attached"], counts=counts)


def _attach(orders: ProjectDocuments, shipment: dict[str, Any], prefix: str) -> str:
    reference = str(shipment.get("reference") or "")
    if not reference.startswith(prefix):
        return "unknown"
    key = reference[len(prefix) :]
    doc = orders.get(key)
    if doc is None:
        return "unknown"
    attached = {
        "id": shipment.get("id"),
        "carrier": shipment.get("carrier"),
        "tracking": shipment.get("tracking"),
        "shipped_at": shipment.get("shipped_at"),
    }
    if doc.get("marks", {}).get(SHIPMENT) == attached:
        return "unchanged"
    orders.mark(key, **{SHIPMENT: attached})
    return "attached"
