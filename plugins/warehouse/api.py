"""The warehouse's HTTP JSON API, as the connector uses it (bearer token auth):

- `POST /orders` with an order whose `reference` is the shop's order id (after the connection's
  prefix): `201 {"id": …}`; a reference the warehouse already has answers
  `409 {"id": <its id>, …}`, so an order sent again after a crash is not taken twice.
- `GET /shipments?since=<ISO 8601>&page=&per_page=`: the shipments updated after `since`,
  oldest update first, as `{"shipments": [{id, reference, carrier, tracking, shipped_at,
  updated_at}], "pages": n}`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from plugins.shop.errors import ApiError
from plugins.shop.http import JsonApi
from plugins.shop.incremental import Fetched, Page, anchored_pages, parse_stamp


class WarehouseApi:
    def __init__(self, http: JsonApi, *, per_page: int) -> None:
        self.http = http
        self.per_page = per_page

    def create_order(self, order: dict[str, Any]) -> tuple[str | None, bool]:
        """The warehouse's id of the order, and whether this request created it (False: the
        warehouse had it already)."""
        answer = self.http.request("POST", "/orders", json=order, accept=(409,))
        body = answer.body if isinstance(answer.body, dict) else {}
        found = body.get("id")
        return (str(found) if found is not None else None), answer.status != 409

    def shipments(self, after: datetime | None) -> Iterator[Page]:
        def fetch(since: datetime | None, page: int) -> Fetched:
            params: dict[str, Any] = {"page": page, "per_page": self.per_page}
            if since is not None:
                params["since"] = since.isoformat().replace("+00:00", "Z")
            body = self.http.request("GET", "/shipments", params=params).body
            items = body.get("shipments") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise ApiError(
                    f"{self.http.label} answered GET /shipments without a `shipments` list"
                )
            pages = body.get("pages")
            more = page < pages if isinstance(pages, int) else len(items) >= self.per_page
            return items, more

        return anchored_pages(fetch, shipment_stamp, after)


def shipment_stamp(shipment: dict[str, Any]) -> datetime:
    return parse_stamp(shipment.get("updated_at") or shipment.get("shipped_at"))
