"""`warehouse`: a fulfilment warehouse with an HTTP JSON API, as two order tasks."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from plugins.base import Connector, Task, TaskContext, TaskResult
from plugins.shop.http import Credentials, JsonApi
from plugins.shop.incremental import Cursor
from plugins.shop.orders import ORDERS
from plugins.warehouse.api import WarehouseApi
from plugins.warehouse.delivery import deliver_orders
from plugins.warehouse.settings import WarehouseSettings
from plugins.warehouse.shipments import CURSOR_KEY, download_shipments

USER_AGENT = "syncfarm-warehouse/1"
DELIVER = "orders.deliver"
DOWNLOAD = "shipments.download"


class WarehouseConnector(Connector):
    """Tasks: `orders.deliver` (the project's ready orders to the warehouse) and
    `shipments.download` (its shipments onto the orders). `sleep` is how retries wait."""

    name = "warehouse"
    settings_schema = WarehouseSettings
    roles = frozenset({"channel"})
    tasks = (
        Task(DELIVER, description="send the orders ready to ship to the warehouse, once each"),
        Task(DOWNLOAD, description="attach the warehouse's new shipments to their orders"),
    )

    @classmethod
    def example_settings(cls, workdir: Path) -> dict[str, Any]:
        """Offline: with no orders to deliver or attach to, neither task calls the
        warehouse."""
        return {"base_url": "https://warehouse.example/api", "token": "example-token"}

    @cached_property
    def options(self) -> dict[str, Any]:
        return self.loaded_settings()

    @cached_property
    def api(self) -> WarehouseApi:
        options = self.options
        http = JsonApi(
            options["base_url"],
            label="the warehouse",
            credentials=Credentials(headers={"Authorization": f"Bearer {options['token']}"}),
            timeout_s=options["timeout_s"] or self.context.http_timeout_s,
            retries=options["retries"],
            user_agent=USER_AGENT,
            sleep=self.sleep,
        )
        return WarehouseApi(http, per_page=options["per_page"])

    def run_task(self, name: str, ctx: TaskContext) -> TaskResult:
        prefix = self.options["reference_prefix"]
        if name == DELIVER:
            return deliver_orders(
                self.api,
                ctx.documents(ORDERS),
                statuses=self.options["deliver_statuses"],
                prefix=prefix,
            )
        if name == DOWNLOAD:
            cursor = Cursor(ctx.state, CURSOR_KEY, overlap_s=self.options["overlap_s"])
            return download_shipments(self.api, ctx.documents(ORDERS), cursor, prefix=prefix)
        return super().run_task(name, ctx)
