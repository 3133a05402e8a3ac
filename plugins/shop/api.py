"""The WooCommerce REST API v3, as far as the shop connector uses it: products and their
variations (listed, found by SKU, stock updated in batches) and orders (listed by modification,
updated one by one)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from plugins.shop.errors import ApiError
from plugins.shop.http import Answer
from plugins.shop.incremental import (
    Fetched,
    Page,
    anchored_pages,
    gmt,
    numbered_pages,
    parse_stamp,
)

API = "/wp-json/wc/v3"
#: WooCommerce's limit of items in one batch request
BATCH_LIMIT = 100


class Transport(Protocol):
    label: str

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        accept: Collection[int] = (),
    ) -> Answer: ...


class ShopApi:
    def __init__(self, transport: Transport, *, per_page: int) -> None:
        self.transport = transport
        self.per_page = per_page

    @property
    def label(self) -> str:
        return self.transport.label

    def products(self) -> Iterator[list[dict[str, Any]]]:
        """Every product, in pages, by id (an order that edits do not change)."""
        return numbered_pages(lambda page: self._list("/products", {"page": page}))

    def variations(self, product_id: int) -> Iterator[list[dict[str, Any]]]:
        return numbered_pages(
            lambda page: self._list(f"/products/{product_id}/variations", {"page": page})
        )

    def orders(self, after: datetime | None) -> Iterator[Page]:
        """Orders modified after `after` (every order when None), oldest modification first,
        anchored page by page (`plugins.shop.incremental`)."""

        def fetch(since: datetime | None, page: int) -> Fetched:
            params: dict[str, Any] = {
                "orderby": "modified",
                "order": "asc",
                "dates_are_gmt": "true",
                "page": page,
            }
            if since is not None:
                params["modified_after"] = gmt(since)
            return self._list("/orders", params)

        return anchored_pages(fetch, order_stamp, after)

    def find_skus(self, skus: Collection[str]) -> list[dict[str, Any]]:
        """The products and variations holding any of `skus` (WooCommerce searches both when
        asked by SKU)."""
        found: list[dict[str, Any]] = []
        for page in numbered_pages(
            lambda page: self._list(
                "/products", {"sku": ",".join(skus), "page": page, "_fields": "id,sku,parent_id"}
            )
        ):
            found.extend(page)
        return found

    def update_stock(self, parent_id: int | None, updates: list[dict[str, Any]]) -> list[Any]:
        """One batch update (at most `BATCH_LIMIT`) of products, or of the variations of
        product `parent_id`; one answer per update, a product or `{id, error}`."""
        path = f"/products/{parent_id}/variations/batch" if parent_id else "/products/batch"
        body = self._call("POST", path, json={"update": updates}).body
        answers = body.get("update") if isinstance(body, dict) else None
        if not isinstance(answers, list):
            raise ApiError(f"{self.label} answered POST {API}{path} without an `update` list")
        return answers

    def update_order(self, order_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        body = self._call("PUT", f"/orders/{order_id}", json=changes).body
        return body if isinstance(body, dict) else {}

    def _call(self, method: str, path: str, **kwargs: Any) -> Answer:
        return self.transport.request(method, API + path, **kwargs)

    def _list(self, path: str, params: dict[str, Any]) -> Fetched:
        answer = self._call("GET", path, params={**params, "per_page": self.per_page})
        if not isinstance(answer.body, list):
            raise ApiError(f"{self.label} answered GET {API}{path} with something not a list")
        pages = answer.headers.get("X-WP-TotalPages")
        if pages is not None and pages.isdigit():
            more = int(params["page"]) < int(pages)
        else:
            more = len(answer.body) >= self.per_page
        return answer.body, more


def order_stamp(order: dict[str, Any]) -> datetime:
    return parse_stamp(order.get("date_modified_gmt") or order.get("date_created_gmt"))
