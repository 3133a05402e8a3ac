"""The order flows, each a task job with its own schedule, run in-process against a fake shop
and a fake warehouse: orders downloaded, delivered, shipped and the shipments uploaded, with no
order lost or doubled however a run ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.documents import ProjectDocuments
from core.models import RunState, Trigger
from core.pipeline.tasks import TaskState
from core.store import Store
from tests.core.shop import Shop
from tests.plugins.fake_shop import FakeShop, fake_shop, shop_server, shop_settings  # noqa: F401
from tests.plugins.fake_warehouse import (  # noqa: F401
    FakeWarehouse,
    fake_warehouse,
    warehouse_server,
    warehouse_settings,
)
from tests.plugins.fakes import add_connectors

SCHEDULES = {
    "orders.download": {"mode": "interval", "every_minutes": 5},
    "orders.deliver": {"mode": "automatic"},
    "shipments.download": {"mode": "interval", "every_minutes": 15},
    "shipments.upload": {"mode": "daily", "times": ["08:00", "16:00"]},
}


class Flows:
    """A project with the shop and the warehouse connected, and one job per order flow."""

    def __init__(self, shop: Shop, shop_api: FakeShop, warehouse_api: FakeWarehouse) -> None:
        self.shop, self.shop_api, self.warehouse_api = shop, shop_api, warehouse_api
        self.woo = shop.connect(
            {
                "connector": "shop",
                "role": "channel",
                "name": "woo",
                "settings": shop_settings(shop_api, per_page=3, retries=0),
            }
        )
        self.wms = shop.connect(
            {
                "connector": "warehouse",
                "role": "channel",
                "name": "wms",
                "settings": warehouse_settings(warehouse_api, per_page=2, retries=0),
            }
        )
        owners = {
            "orders.download": self.woo,
            "orders.deliver": self.wms,
            "shipments.download": self.wms,
            "shipments.upload": self.woo,
        }
        self.jobs = {
            task: shop.add_job(
                {
                    "kind": "task",
                    "name": task,
                    "connection_id": owners[task]["_id"],
                    "task": task,
                    "schedule": schedule,
                }
            )
            for task, schedule in SCHEDULES.items()
        }

    def run(self, task: str) -> dict[str, Any]:
        """A run of the task's job, as its schedule fires it."""
        return self.shop.run(self.jobs[task], Trigger.SCHEDULE)

    def succeed(self, task: str) -> dict[str, int]:
        """Run the task's job; the counts of its task stage (it must succeed)."""
        run = self.run(task)
        assert run["state"] == RunState.SUCCEEDED, run["error"]
        return self.shop.stage(run, f"task:{task}")

    def orders(self) -> dict[str, dict[str, Any]]:
        query = {"project_id": self.shop.project["_id"], "kind": "orders"}
        return {doc["key"]: doc for doc in self.shop.store.documents.find(query)}

    def state(self, connection: dict[str, Any]) -> TaskState:
        return TaskState(self.shop.store, connection["_id"])


@pytest.fixture
def flows(
    store: Store,
    settings: Settings,
    csv_feed: Path,
    broker: Any,
    monkeypatch: pytest.MonkeyPatch,
    shop_api: FakeShop,
    warehouse_api: FakeWarehouse,
) -> Flows:
    add_connectors(
        monkeypatch,
        {
            "shop": "plugins.shop:ShopConnector",
            "warehouse": "plugins.warehouse:WarehouseConnector",
        },
    )
    shop = Shop(store, settings, csv_feed, broker, monkeypatch)
    return Flows(shop, shop_api, warehouse_api)


# --- orders.download ---------------------------------------------------------------------


def test_order_download_pages_through_everything_and_stores_each_order_once(
    flows: Flows,
) -> None:
    placed = [flows.shop_api.add_order() for _ in range(7)]
    counts = flows.succeed("orders.download")
    assert counts["count"] == 7 and counts["inserted"] == 7
    stored = flows.orders()
    assert sorted(stored) == sorted(str(o["id"]) for o in placed)
    assert "_links" not in stored[str(placed[0]["id"])]["data"]
    assert flows.state(flows.woo)["orders_cursor"] == placed[-1]["date_modified_gmt"] + "Z"


def test_a_second_download_rereads_the_overlap_window_but_creates_no_duplicates(
    flows: Flows,
) -> None:
    placed = [flows.shop_api.add_order() for _ in range(7)]  # a minute apart
    flows.succeed("orders.download")
    flows.shop_api.requests.clear()
    again = flows.succeed("orders.download")
    first = flows.shop_api.sent("GET", "/wp-json/wc/v3/orders")[0]
    assert first.query["modified_after"] == "2024-05-01T10:02:00"  # the cursor less 300 s
    assert again["read"] >= 5 and again["unchanged"] == again["read"]  # the last 5 minutes
    assert again["count"] == again["inserted"] == again["updated"] == 0
    assert len(flows.orders()) == len(placed)


def test_a_download_that_fails_on_page_2_keeps_its_cursor_behind_every_order_not_stored(
    flows: Flows,
) -> None:
    placed = [flows.shop_api.add_order() for _ in range(7)]
    flows.shop_api.fail("GET", "/wp-json/wc/v3/orders", skip=1)
    failed = flows.run("orders.download")
    assert failed["state"] == RunState.FAILED
    assert "answered HTTP 500 to GET /wp-json/wc/v3/orders" in failed["error"]["message"]
    stored = flows.orders()
    assert len(stored) == 3  # the first page, committed
    cursor = flows.state(flows.woo)["orders_cursor"]
    assert all(o["date_modified_gmt"] + "Z" > cursor for o in placed if str(o["id"]) not in stored)

    counts = flows.succeed("orders.download")
    assert counts["inserted"] == 4
    assert sorted(flows.orders()) == sorted(str(o["id"]) for o in placed)


def test_a_download_killed_after_storing_a_page_before_moving_its_cursor_loses_nothing(
    flows: Flows, monkeypatch: pytest.MonkeyPatch
) -> None:
    placed = [flows.shop_api.add_order() for _ in range(7)]
    from plugins.shop.incremental import Cursor

    real_advance = Cursor.advance
    advances = {"n": 0}

    def killed_on_second_page(self: Cursor, stamp: Any) -> None:
        advances["n"] += 1
        if advances["n"] == 2:  # stored, not yet moved: what a kill leaves behind
            raise RuntimeError("the worker was killed")
        real_advance(self, stamp)

    monkeypatch.setattr(Cursor, "advance", killed_on_second_page)
    assert flows.run("orders.download")["state"] == RunState.FAILED
    assert len(flows.orders()) == 5  # page 1, then page 2 (from page 1's last order on)
    monkeypatch.setattr(Cursor, "advance", real_advance)

    counts = flows.succeed("orders.download")
    assert counts["inserted"] == 2 and counts["unchanged"] >= 3  # page 2 again, stored once
    assert sorted(flows.orders()) == sorted(str(o["id"]) for o in placed)


def test_an_order_modified_later_is_updated_not_duplicated_and_keeps_its_marks(
    flows: Flows,
) -> None:
    order = flows.shop_api.add_order()
    flows.shop_api.add_order()
    flows.succeed("orders.download")
    flows.succeed("orders.deliver")
    flows.shop_api.modify_order(order["id"], customer_note="leave at the door")
    counts = flows.succeed("orders.download")
    assert counts["count"] == 1 and counts["updated"] == 1
    stored = flows.orders()
    assert len(stored) == 2
    assert stored[str(order["id"])]["data"]["customer_note"] == "leave at the door"
    assert stored[str(order["id"])]["marks"]["delivered"]["id"] == "WH-1"


def test_an_order_modified_while_the_download_pages_through_pushes_no_other_order_out(
    flows: Flows,
) -> None:
    placed = [flows.shop_api.add_order() for _ in range(7)]
    pages_asked = {"n": 0}

    def modify_the_first_order_after_page_1(request: Any) -> None:
        if request.path.endswith("/orders"):
            pages_asked["n"] += 1
            if pages_asked["n"] == 2:  # it jumps to the end: every later order moves left
                flows.shop_api.modify_order(placed[0]["id"], status="on-hold")

    flows.shop_api.before(modify_the_first_order_after_page_1)
    flows.succeed("orders.download")
    stored = flows.orders()
    assert sorted(stored) == sorted(str(o["id"]) for o in placed)
    assert stored[str(placed[0]["id"])]["data"]["status"] == "on-hold"


# --- orders.deliver ----------------------------------------------------------------------


def test_delivery_sends_each_ready_order_once_even_when_the_run_is_repeated(
    flows: Flows,
) -> None:
    ready = [flows.shop_api.add_order() for _ in range(3)]
    unpaid = flows.shop_api.add_order(status="pending")
    flows.shop_api.add_order(status="completed")
    flows.succeed("orders.download")
    first = flows.succeed("orders.deliver")
    again = flows.succeed("orders.deliver")
    assert first["delivered"] == 3 and again["count"] == 0
    assert len(flows.warehouse_api.sent("POST", "/orders")) == 3
    assert sorted(flows.warehouse_api.orders) == sorted(str(o["id"]) for o in ready)
    taken = flows.warehouse_api.orders[str(ready[0]["id"])]
    assert taken["lines"] == [{"sku": "A-1", "name": "Product A-1", "quantity": 1}]
    assert taken["shipping_address"]["city"] == "Berlin"

    flows.shop_api.modify_order(unpaid["id"], status="processing")  # paid now
    flows.succeed("orders.download")
    later = flows.succeed("orders.deliver")
    assert later["delivered"] == 1 and len(flows.warehouse_api.orders) == 4


def test_a_delivery_that_crashed_after_the_warehouse_took_an_order_counts_its_409_as_delivered(
    flows: Flows, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        flows.shop_api.add_order()
    flows.succeed("orders.download")
    real_mark = ProjectDocuments.mark

    def crash_once(self: ProjectDocuments, key: str, **marks: Any) -> None:
        monkeypatch.setattr(ProjectDocuments, "mark", real_mark)
        raise RuntimeError("the worker died before marking the order")

    monkeypatch.setattr(ProjectDocuments, "mark", crash_once)
    crashed = flows.run("orders.deliver")
    assert crashed["state"] == RunState.FAILED
    assert len(flows.warehouse_api.orders) == 1  # taken, but not marked here

    counts = flows.succeed("orders.deliver")
    assert counts == {"count": 3, "delivered": 2, "already_known": 1}
    posts = flows.warehouse_api.sent("POST", "/orders")
    assert len(posts) == 4 and len(flows.warehouse_api.orders) == 3
    marks = {key: doc["marks"]["delivered"]["id"] for key, doc in flows.orders().items()}
    assert marks == {ref: order["id"] for ref, order in flows.warehouse_api.orders.items()}


def test_an_order_the_warehouse_refuses_does_not_stop_the_others_and_fails_the_run(
    flows: Flows,
) -> None:
    good = flows.shop_api.add_order()
    empty = flows.shop_api.add_order(lines=())
    flows.succeed("orders.download")
    failed = flows.run("orders.deliver")
    assert failed["state"] == RunState.FAILED
    message = failed["error"]["message"]
    assert f"order {empty['id']}: the warehouse" in message and "invalid_order" in message
    assert "1 order(s) could not be delivered to the warehouse (1 were)" in message
    assert list(flows.warehouse_api.orders) == [str(good["id"])]


def test_a_wrong_warehouse_token_fails_the_run_asking_to_check_the_credentials(
    flows: Flows,
) -> None:
    from core.connections import update_connection

    flows.shop_api.add_order()
    flows.succeed("orders.download")
    wrong = warehouse_settings(flows.warehouse_api, token="nope", retries=0)
    update_connection(flows.shop.store, flows.shop.project, flows.wms["_id"], {"settings": wrong})
    failed = flows.run("orders.deliver")
    assert failed["state"] == RunState.FAILED
    assert "HTTP 401" in failed["error"]["message"]
    assert "check the connection's credentials" in failed["error"]["message"]
    assert "nope" not in failed["error"]["message"]


# --- shipments ---------------------------------------------------------------------------


def test_shipments_downloaded_are_attached_to_orders_and_uploaded_to_the_shop_once(
    flows: Flows,
) -> None:
    placed = [flows.shop_api.add_order() for _ in range(3)]
    flows.succeed("orders.download")
    flows.succeed("orders.deliver")
    shipped = [flows.warehouse_api.ship(str(o["id"])) for o in placed[:2]]

    attached = flows.succeed("shipments.download")
    assert attached["attached"] == 2
    marks = flows.orders()[str(placed[0]["id"])]["marks"]
    assert marks["shipment"]["tracking"] == shipped[0]["tracking"]
    uploaded = flows.succeed("shipments.upload")
    assert uploaded["uploaded"] == 2
    assert flows.shop_api.orders[placed[0]["id"]]["status"] == "completed"
    assert flows.shop_api.meta(placed[0]["id"]) == {
        "tracking_number": shipped[0]["tracking"],
        "tracking_carrier": "DHL",
        "shipped_at": shipped[0]["shipped_at"],
    }
    assert flows.shop_api.orders[placed[2]["id"]]["status"] == "processing"

    again = flows.succeed("shipments.download")
    assert again["attached"] == 0 and again["unchanged"] == 2  # the overlap, re-read
    flows.succeed("shipments.upload")
    assert len(flows.shop_api.sent("PUT", "/wp-json/wc/v3/orders/*")) == 2


def test_each_order_flow_is_its_own_job_with_its_own_schedule(flows: Flows) -> None:
    jobs = {job["task"]: job for job in flows.shop.store.jobs.find({"kind": "task"})}
    assert {task: job["schedule"]["mode"] for task, job in jobs.items()} == {
        "orders.download": "interval",
        "orders.deliver": "automatic",
        "shipments.download": "interval",
        "shipments.upload": "daily",
    }
    assert jobs["orders.download"]["connection_id"] == flows.woo["_id"]
    assert jobs["shipments.upload"]["connection_id"] == flows.woo["_id"]
    assert jobs["orders.deliver"]["connection_id"] == flows.wms["_id"]
    assert all(jobs[t]["next_fire_at"] for t in ("orders.download", "shipments.upload"))
    assert jobs["orders.deliver"]["next_fire_at"] is None  # fired by events, not a clock

    order = flows.shop_api.add_order()
    for task in ("orders.download", "orders.deliver"):
        flows.succeed(task)
    flows.warehouse_api.ship(str(order["id"]))
    for task in ("shipments.download", "shipments.upload"):
        flows.succeed(task)
    assert flows.shop_api.orders[order["id"]]["status"] == "completed"
