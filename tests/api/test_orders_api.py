"""`/projects/{pid}/orders?set=…`: the project's orders by named sets, dates in its timezone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from core.documents import ProjectDocuments
from core.store import Store

NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


@pytest.fixture
def project(tenant: Any, store: Store, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr("core.recordsets.orders.utcnow", lambda: NOW)
    pid = tenant.post("/projects/", {"name": "Shop", "timezone": "Europe/Berlin"}).json["id"]
    shop = tenant.post(
        f"/projects/{pid}/connections/",
        {
            "connector": "shop",
            "role": "channel",
            "settings": {
                "base_url": "https://shop.example",
                "consumer_key": "ck",
                "consumer_secret": "cs",
            },
        },
    )
    assert shop.status_code == 201, shop.json
    orders = ProjectDocuments(store, pid, "orders", connection_id=shop.json["id"])
    orders.upsert_many(
        [
            ("101", {"id": 101, "status": "processing", "date_created_gmt": "2026-11-24T23:30:00"}),
            ("102", {"id": 102, "status": "processing", "date_created_gmt": "2026-11-24T22:30:00"}),
            ("103", {"id": 103, "status": "completed", "date_created_gmt": "2026-10-02T08:00:00"}),
        ]
    )
    return {"pid": pid, "shop": shop.json["id"]}


def _keys(tenant: Any, pid: str, *sets: str) -> list[str]:
    answer = tenant.get(f"/projects/{pid}/orders", query_string=[("set", s) for s in sets])
    assert answer.status_code == 200, answer.json
    return [order["key"] for order in answer.json]


def test_orders_of_today_are_those_of_the_projects_day(
    tenant: Any, project: dict[str, Any]
) -> None:
    pid = project["pid"]
    # 23:30 UTC on the 24th is 00:30 on the 25th in Berlin
    assert _keys(tenant, pid, "today") == ["101"]
    assert _keys(tenant, pid, "yesterday") == ["102"]
    assert _keys(tenant, pid, "this-month") == ["101", "102"]
    assert _keys(tenant, pid, "month:2026-10") == ["103"]
    assert _keys(tenant, pid, "year:2026", f"on:{project['shop']}") == ["101", "102", "103"]
    assert _keys(tenant, pid) == ["101", "102", "103"]


def test_orders_show_their_time_and_where_they_came_from(
    tenant: Any, project: dict[str, Any]
) -> None:
    [order] = tenant.get(f"/projects/{project['pid']}/orders?set=today").json
    assert order["ordered_at"].startswith("2026-11-24T23:30:00")
    assert order["connection_id"] == project["shop"]
    assert order["data"]["status"] == "processing"


def test_bad_order_sets_are_422_naming_them(tenant: Any, project: dict[str, Any]) -> None:
    pid = project["pid"]
    for text in ("month:2026-13", "tomorrow", f"pending-creates:{project['shop']}"):
        answer = tenant.get(f"/projects/{pid}/orders?set={text}")
        assert answer.status_code == 422, text
        assert text in answer.json["message"]
