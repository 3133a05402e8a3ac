"""A fake WooCommerce-shaped shop (REST API v3) on a local port, for the shop connector's tests.

It keeps products (variations among them, with `parent_id`) and orders with GMT modification
stamps from its own clock, which moves a minute at each change; answers listings with
`page`/`per_page`, `X-WP-Total` and `X-WP-TotalPages`, orders filtered by `modified_after`
and sorted by modification, product batch updates and order updates; records every request;
and can be told to fail a request (`fail`) or to change its data before answering one
(`before`). `FakeService` and `switched_server` are the parts the fake warehouse shares.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.httpserver import QuietHandler, serving

API = "/wp-json/wc/v3"
CONSUMER_KEY = "ck_test"
CONSUMER_SECRET = "cs_test"
START = datetime(2024, 5, 1, 10, 0, 0)

Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class Failure:
    method: str
    pattern: str
    status: int
    times: int
    skip: int
    #: close the connection without an answer (a crash on the wire) instead of `status`
    drop: bool


@dataclass
class FakeService:
    """Recording, failure injection and hooks around a `route(request)` of a subclass."""

    requests: list[Request] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    hooks: list[Callable[[Request], None]] = field(default_factory=list)
    url: str = ""
    clock: datetime = START
    lock: threading.RLock = field(default_factory=threading.RLock)

    def fail(
        self,
        method: str,
        pattern: str,
        *,
        status: int = 500,
        times: int = 1,
        skip: int = 0,
        drop: bool = False,
    ) -> None:
        """Fail the requests matching `method` and the glob `pattern` (a path): `skip` of them
        pass first, then `times` fail."""
        self.failures.append(Failure(method, pattern, status, times, skip, drop))

    def before(self, hook: Callable[[Request], None]) -> None:
        """Call `hook(request)` before answering each request (e.g. to modify an order)."""
        self.hooks.append(hook)

    def sent(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and _matches(pattern, r.path)]

    def tick(self, seconds: int = 60) -> str:
        """Move the clock on; the new time as a GMT stamp."""
        self.clock += timedelta(seconds=seconds)
        return self.clock.strftime("%Y-%m-%dT%H:%M:%S")

    def route(self, request: Request) -> Answer:
        raise NotImplementedError

    def _failure(self, request: Request) -> Failure | None:
        for failure in self.failures:
            if failure.method != request.method or not _matches(failure.pattern, request.path):
                continue
            if failure.skip > 0:
                failure.skip -= 1
                return None
            if failure.times > 0:
                failure.times -= 1
                return failure
        return None


@dataclass
class Switch:
    """A server whose requests go to the fake plugged in (each test plugs in a fresh one, so
    one server serves a whole session)."""

    url: str = ""
    service: FakeService | None = None


@contextmanager
def switched_server() -> Iterator[Switch]:
    switch = Switch()

    class Handler(QuietHandler):
        def _handle(self) -> None:
            service = switch.service
            assert service is not None, "no fake is plugged in"
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Request(
                self.command,
                parts.path,
                dict(parse_qsl(parts.query)),
                json.loads(raw) if raw else None,
                dict(self.headers.items()),
            )
            with service.lock:
                service.requests.append(request)
                for hook in list(service.hooks):
                    hook(request)
                failure = service._failure(request)
                if failure is None:
                    status, body, headers = service.route(request)
            if failure is not None and failure.drop:
                self.close_connection = True
                return
            if failure is not None:
                status, body, headers = failure.status, {"message": "injected"}, {}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _handle  # noqa: N815

    with serving(Handler) as url:
        switch.url = url
        yield switch


def _matches(pattern: str, path: str) -> bool:
    return fnmatch.fnmatchcase(path, pattern)


def error(status: int, code: str, message: str) -> Answer:
    return status, {"code": code, "message": message, "data": {"status": status}}, {}


def paginate(items: list[dict[str, Any]], query: dict[str, str]) -> Answer:
    per_page = int(query.get("per_page", 10))
    if not 1 <= per_page <= 100:
        return error(400, "rest_invalid_param", "per_page must be between 1 and 100")
    page = int(query.get("page", 1))
    pages = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    return 200, chunk, {"X-WP-Total": str(len(items)), "X-WP-TotalPages": str(pages)}


@dataclass
class FakeShop(FakeService):
    products: dict[int, dict[str, Any]] = field(default_factory=dict)
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 100

    # --- the merchant's side --------------------------------------------------------------

    def add_product(
        self, sku: str, stock: int = 0, *, parent: int | None = None, kind: str = "simple"
    ) -> dict[str, Any]:
        with self.lock:
            self.next_id += 1
            product: dict[str, Any] = {
                "id": self.next_id,
                "sku": sku,
                "name": f"Product {sku}",
                "type": "variation" if parent else kind,
                "parent_id": parent or 0,
                "status": "publish",
                "price": "10.00",
                "regular_price": "10.00",
                "manage_stock": True,
                "stock_quantity": stock,
                "permalink": f"https://shop.example/p/{sku}",
                "attributes": [{"name": "Size", "option": sku[-1]}] if parent else [],
                "_links": {"self": [{"href": "…"}]},
            }
            self.products[product["id"]] = product
            return product

    def add_order(
        self, *, status: str = "processing", lines: tuple[tuple[str, int], ...] = (("A-1", 1),)
    ) -> dict[str, Any]:
        with self.lock:
            self.next_id += 1
            stamp = self.tick()
            order: dict[str, Any] = {
                "id": self.next_id,
                "number": str(self.next_id),
                "status": status,
                "date_created_gmt": stamp,
                "date_modified_gmt": stamp,
                "billing": {"email": f"buyer{self.next_id}@example.com", "phone": "555"},
                "shipping": {"first_name": "Ada", "city": "Berlin", "country": "DE"},
                "shipping_lines": [{"method_title": "Flat rate"}],
                "customer_note": "",
                "line_items": [{"sku": s, "name": f"Product {s}", "quantity": q} for s, q in lines],
                "meta_data": [],
                "_links": {"self": [{"href": "…"}]},
            }
            self.orders[order["id"]] = order
            return order

    def modify_order(self, order_id: int, **changes: Any) -> dict[str, Any]:
        with self.lock:
            order = self.orders[order_id]
            order.update(changes, date_modified_gmt=self.tick())
            return order

    def meta(self, order_id: int) -> dict[str, Any]:
        return {m["key"]: m["value"] for m in self.orders[order_id]["meta_data"]}

    # --- the API ---------------------------------------------------------------------------

    def route(self, request: Request) -> Answer:
        if not self._authorized(request):
            return error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        path = request.path.removeprefix(API)
        parts = path.strip("/").split("/")
        if request.method == "GET" and parts == ["products"]:
            return paginate(self._products(request.query), request.query)
        if request.method == "GET" and len(parts) == 3 and parts[2] == "variations":
            return paginate(self._variations(int(parts[1])), request.query)
        if request.method == "POST" and parts == ["products", "batch"]:
            return self._batch(request.body, parent=None)
        if request.method == "POST" and len(parts) == 4 and parts[2:] == ["variations", "batch"]:
            return self._batch(request.body, parent=int(parts[1]))
        if request.method == "GET" and parts == ["orders"]:
            return paginate(self._orders(request.query), request.query)
        if request.method == "PUT" and len(parts) == 2 and parts[0] == "orders":
            return self._update_order(int(parts[1]), request.body)
        return error(404, "rest_no_route", "No route was found matching the URL.")

    def _authorized(self, request: Request) -> bool:
        basic = "Basic " + base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()
        if request.headers.get("Authorization") == basic:
            return True
        query = request.query
        return (query.get("consumer_key"), query.get("consumer_secret")) == (
            CONSUMER_KEY,
            CONSUMER_SECRET,
        )

    def _products(self, query: dict[str, str]) -> list[dict[str, Any]]:
        if "sku" in query:  # WooCommerce searches variations too when asked by SKU
            skus = set(query["sku"].split(","))
            return [p for _, p in sorted(self.products.items()) if p["sku"] in skus]
        return [p for _, p in sorted(self.products.items()) if p["type"] != "variation"]

    def _variations(self, parent: int) -> list[dict[str, Any]]:
        return [p for _, p in sorted(self.products.items()) if p["parent_id"] == parent]

    def _batch(self, body: dict[str, Any], *, parent: int | None) -> Answer:
        updates = body.get("update") or []
        if len(updates) > 100:
            return error(413, "rest_batch_too_large", "Unable to accept more than 100 items.")
        answers = []
        for update in updates:
            product = self.products.get(update["id"])
            if product is None or (product["parent_id"] or None) != parent:
                code = "woocommerce_rest_product_invalid_id"
                if parent:
                    code = "woocommerce_rest_product_variation_invalid_id"
                answers.append(
                    {"id": update["id"], "error": {"code": code, "message": "Invalid ID."}}
                )
                continue
            product.update({k: v for k, v in update.items() if k != "id"})
            answers.append(product)
        return 200, {"update": answers}, {}

    def _orders(self, query: dict[str, str]) -> list[dict[str, Any]]:
        orders = list(self.orders.values())
        after = query.get("modified_after")
        if after:
            assert query.get("dates_are_gmt") == "true", "the connector asks in GMT"
            orders = [o for o in orders if o["date_modified_gmt"] > after]
        if query.get("orderby") == "modified":
            orders.sort(key=lambda o: (o["date_modified_gmt"], o["id"]))
        else:
            orders.sort(key=lambda o: o["id"])
        if query.get("order") == "desc":
            orders.reverse()
        return orders

    def _update_order(self, order_id: int, body: dict[str, Any]) -> Answer:
        order = self.orders.get(order_id)
        if order is None:
            return error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        if "status" in body:
            order["status"] = body["status"]
        meta = {m["key"]: m for m in order["meta_data"]}
        for item in body.get("meta_data") or []:
            meta[item["key"]] = {"key": item["key"], "value": item["value"]}
        order["meta_data"] = list(meta.values())
        order["date_modified_gmt"] = self.tick()
        return 200, order, {}


@pytest.fixture(scope="session")
def shop_server() -> Iterator[Switch]:
    with switched_server() as switch:
        yield switch


@pytest.fixture(name="shop_api")
def fake_shop(shop_server: Switch) -> Iterator[FakeShop]:
    """A fresh `FakeShop`, served (import `shop_server` and `fake_shop`, ask for
    `shop_api`)."""
    fake = FakeShop(url=shop_server.url)
    shop_server.service = fake
    yield fake
    shop_server.service = None


def shop_settings(fake: FakeShop, **extra: Any) -> dict[str, Any]:
    return {
        "base_url": fake.url,
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        **extra,
    }
