"""The warehouse connector on its own, against the fake warehouse."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from core.documents import ProjectDocuments
from core.store import Store
from plugins.base import ConnectorContext, TaskContext
from plugins.warehouse import WarehouseConnector, WarehouseSettings
from tests.plugins.fake_warehouse import (  # noqa: F401
    FakeWarehouse,
    fake_warehouse,
    warehouse_server,
    warehouse_settings,
)


def build(settings: dict[str, Any], tmp_path: Path) -> WarehouseConnector:
    context = ConnectorContext(project_id="prj", connection_id="con", data_dir=tmp_path)
    return WarehouseConnector(WarehouseSettings().load(settings), context, sleep=lambda s: None)


def task_context(store: Store, state: dict[str, Any]) -> TaskContext:
    return TaskContext(
        records=lambda: iter(()), state=state, documents=partial(ProjectDocuments, store, "prj")
    )


def add_orders(store: Store, count: int) -> ProjectDocuments:
    orders = ProjectDocuments(store, "prj", "orders")
    orders.upsert_many(
        [
            (str(n), {"id": n, "status": "processing", "line_items": [{"sku": "A", "quantity": 1}]})
            for n in range(1, count + 1)
        ]
    )
    return orders


def test_shipments_are_read_across_pages_and_the_cursor_follows_them(
    warehouse_api: FakeWarehouse, store: Store, tmp_path: Path
) -> None:
    orders = add_orders(store, 5)
    connector = build(warehouse_settings(warehouse_api, per_page=2), tmp_path)
    state: dict[str, Any] = {}
    assert connector.run_task("orders.deliver", task_context(store, state)).count == 5
    shipped = [warehouse_api.ship(str(n)) for n in range(1, 6)]
    result = connector.run_task("shipments.download", task_context(store, state))
    assert result.counts["attached"] == 5
    assert orders.count() == 5 and list(orders.without_mark("shipment")) == []
    assert state["shipments_cursor"] == shipped[-1]["updated_at"]


def test_the_reference_prefix_keeps_shops_apart_on_a_shared_warehouse_account(
    warehouse_api: FakeWarehouse, store: Store, tmp_path: Path
) -> None:
    orders = add_orders(store, 1)
    connector = build(warehouse_settings(warehouse_api, reference_prefix="shopA-"), tmp_path)
    connector.run_task("orders.deliver", task_context(store, {}))
    assert list(warehouse_api.orders) == ["shopA-1"]
    warehouse_api.orders["shopB-1"] = {"id": "WH-9"}
    warehouse_api.ship("shopB-1")
    warehouse_api.ship("shopA-1")
    result = connector.run_task("shipments.download", task_context(store, {}))
    assert result.counts == {"pages": 1, "read": 2, "attached": 1, "unchanged": 0, "unknown": 1}
    assert (orders.get("1") or {})["marks"]["shipment"]["tracking"] == "TRK000002"


def test_a_warehouse_answering_503_is_asked_again(
    warehouse_api: FakeWarehouse, store: Store, tmp_path: Path
) -> None:
    add_orders(store, 2)
    warehouse_api.fail("POST", "/orders", status=503, times=2)
    connector = build(warehouse_settings(warehouse_api, retries=2), tmp_path)
    result = connector.run_task("orders.deliver", task_context(store, {}))
    assert result.counts == {"delivered": 2, "already_known": 0}
    assert len(warehouse_api.orders) == 2
