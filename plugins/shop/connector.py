"""`shop`: a shop speaking the WooCommerce REST API v3, as a catalog source, an inventory
channel and two order tasks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from plugins.base import (
    Change,
    ChangeResult,
    Connector,
    Record,
    Task,
    TaskContext,
    TaskResult,
)
from plugins.shop.api import ShopApi, Transport
from plugins.shop.catalog import read_catalog
from plugins.shop.http import Credentials, JsonApi
from plugins.shop.incremental import Cursor
from plugins.shop.inventory import InventoryUpload
from plugins.shop.orders import CURSOR_KEY, ORDERS, download_orders, upload_shipments
from plugins.shop.settings import ShopSettings, is_snapshot
from plugins.shop.snapshot import SnapshotApi

USER_AGENT = "syncfarm-shop/1"
DOWNLOAD = "orders.download"
UPLOAD = "shipments.upload"


class ShopConnector(Connector):
    """Source: the shop's products and variations, keyed by SKU. API channel: the stock (and
    price) of changed records. Tasks: `orders.download`, `shipments.upload`. `sleep` is how
    retries wait (tests pass one that does not)."""

    name = "shop"
    settings_schema = ShopSettings
    roles = frozenset({"source", "channel"})
    channel_kind = "api"
    tasks = (
        Task(DOWNLOAD, description="store the orders modified since the last download"),
        Task(UPLOAD, description="send the warehouse's shipments to the shop's orders"),
    )

    @classmethod
    def example_settings(cls, workdir: Path) -> dict[str, Any]:
        """A snapshot of a small shop, written under `workdir`."""
        snapshot = workdir / "shop-snapshot"
        snapshot.mkdir(parents=True, exist_ok=True)
        products = [
            {"id": 11, "sku": "EX-1", "name": "Example", "type": "simple", "stock_quantity": 3},
            {"id": 12, "sku": "EX-2", "name": "Another", "type": "simple", "stock_quantity": 0},
        ]
        (snapshot / "products.json").write_text(json.dumps(products))
        return {"base_url": str(snapshot)}

    @cached_property
    def options(self) -> dict[str, Any]:
        return self.loaded_settings()

    @cached_property
    def api(self) -> ShopApi:
        options = self.options
        transport: Transport
        if is_snapshot(options["base_url"]):
            transport = SnapshotApi(options["base_url"])
        else:
            keys = (options["consumer_key"], options["consumer_secret"])
            credentials = (
                Credentials(basic=keys)
                if options["auth_in"] == "basic"
                else Credentials(params={"consumer_key": keys[0], "consumer_secret": keys[1]})
            )
            transport = JsonApi(
                options["base_url"],
                label="the shop",
                credentials=credentials,
                timeout_s=options["timeout_s"] or self.context.http_timeout_s,
                retries=options["retries"],
                user_agent=USER_AGENT,
                sleep=self.sleep,
            )
        return ShopApi(transport, per_page=options["per_page"])

    def read(self) -> Iterator[Record]:
        return read_catalog(self.api, variations=self.options["variations"])

    def send(self, changes: Iterable[Change]) -> Iterator[ChangeResult]:
        upload = InventoryUpload(
            self.api,
            self.context.state if self.context.state is not None else {},
            stock_field=self.options["stock_field"],
            price_field=self.options["price_field"],
        )
        return upload.send(changes)

    def run_task(self, name: str, ctx: TaskContext) -> TaskResult:
        if name == DOWNLOAD:
            cursor = Cursor(
                ctx.state,
                CURSOR_KEY,
                overlap_s=self.options["overlap_s"],
                start=self.options["orders_since"],
            )
            return download_orders(self.api, ctx.documents(ORDERS), cursor)
        if name == UPLOAD:
            return upload_shipments(
                self.api, ctx.documents(ORDERS), status=self.options["status_after_shipment"]
            )
        return super().run_task(name, ctx)
