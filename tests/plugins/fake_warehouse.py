"""A fake fulfilment warehouse (HTTP JSON, bearer token) on a local port, for the warehouse
connector's tests: `POST /orders` (409 with the known id for a reference it already has),
`GET /shipments?since=&page=&per_page=` (oldest update first), every request recorded, and
the failure injection and hooks of `FakeService`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.plugins.fake_shop import Answer, FakeService, Request, Switch, switched_server

TOKEN = "wh-token"


@dataclass
class FakeWarehouse(FakeService):
    #: orders taken, by external reference
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    shipments: list[dict[str, Any]] = field(default_factory=list)

    def ship(self, reference: str, *, carrier: str = "DHL") -> dict[str, Any]:
        """Ship a taken order: a new shipment, stamped by the clock."""
        with self.lock:
            order = self.orders[reference]
            stamp = self.tick() + "Z"
            shipment = {
                "id": f"SHP-{len(self.shipments) + 1}",
                "reference": reference,
                "order_id": order["id"],
                "carrier": carrier,
                "tracking": f"TRK{len(self.shipments) + 1:06d}",
                "shipped_at": stamp,
                "updated_at": stamp,
            }
            self.shipments.append(shipment)
            return shipment

    def route(self, request: Request) -> Answer:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"code": "unauthorized", "message": "bad or missing token"}, {}
        if request.method == "POST" and request.path == "/orders":
            return self._take(request.body)
        if request.method == "GET" and request.path == "/shipments":
            return self._shipments(request.query)
        return 404, {"code": "not_found", "message": "no such route"}, {}

    def _take(self, order: dict[str, Any]) -> Answer:
        reference = order.get("reference")
        if not reference or not order.get("lines"):
            return 422, {"code": "invalid_order", "message": "reference and lines required"}, {}
        known = self.orders.get(reference)
        if known is not None:
            return 409, {"code": "duplicate_reference", "id": known["id"], "message": "known"}, {}
        taken = {**order, "id": f"WH-{len(self.orders) + 1}"}
        self.orders[reference] = taken
        return 201, {"id": taken["id"], "reference": reference}, {}

    def _shipments(self, query: dict[str, str]) -> Answer:
        since = query.get("since")
        items = sorted(self.shipments, key=lambda s: (s["updated_at"], s["id"]))
        if since:
            items = [s for s in items if s["updated_at"] > since]
        per_page = int(query.get("per_page", 50))
        page = int(query.get("page", 1))
        pages = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        return 200, {"shipments": chunk, "page": page, "pages": pages}, {}


@pytest.fixture(scope="session")
def warehouse_server() -> Iterator[Switch]:
    with switched_server() as switch:
        yield switch


@pytest.fixture(name="warehouse_api")
def fake_warehouse(warehouse_server: Switch) -> Iterator[FakeWarehouse]:
    """A fresh `FakeWarehouse`, served (import `warehouse_server` and `fake_warehouse`, ask
    for `warehouse_api`)."""
    fake = FakeWarehouse(url=warehouse_server.url)
    warehouse_server.service = fake
    yield fake
    warehouse_server.service = None


def warehouse_settings(fake: FakeWarehouse, **extra: Any) -> dict[str, Any]:
    return {"base_url": fake.url, "token": TOKEN, **extra}
