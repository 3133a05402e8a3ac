"""`/projects/{pid}/records?set=…`, connection settings applied on export, and project
settings of the record sets, through the REST API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.store import Store
from tests.conftest import InlineWorker
from tests.plugins.fakes import RecordingChannel, add_connectors


@pytest.fixture
def shop(
    tenant: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inline_worker: InlineWorker
) -> dict[str, Any]:
    add_connectors(monkeypatch, {"recording": "tests.plugins.fakes:RecordingChannel"})
    monkeypatch.setattr(RecordingChannel, "received", [])
    feed = tmp_path / "feed.csv"
    feed.write_text(
        "sku,title,brand,price,stock\n"
        "A-1,Red shirt,Acme,19.90,0\n"
        "A-2,Blue shirt,Acme,0.50,3\n"
        "B-1,Green cap,Bolt,,12\n"
    )
    pid = tenant.post("/projects/", {"name": "Shop", "low_stock_threshold": 4}).json["id"]
    source = tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": "feed", "role": "source", "settings": {"url": str(feed)}},
    ).json
    channel = tenant.post(
        f"/projects/{pid}/connections/",
        {
            "connector": "recording",
            "role": "channel",
            "currency": "EUR",
            "price_margin": {"percent": 10, "round_to_99": True},
            "defaults": {"condition": "new", "price": "5.00"},
        },
    )
    assert channel.status_code == 201, channel.json
    return {"pid": pid, "source": source, "channel": channel.json, "feed": feed}


def _sync(tenant: Any, inline_worker: InlineWorker, pid: str, cid: str) -> None:
    run = tenant.post(f"/projects/{pid}/connections/{cid}/sync")
    assert run.status_code == 202, run.json
    inline_worker.drain()
    assert tenant.get(f"/runs/{run.json['id']}").json["state"] == "succeeded"


def _keys(tenant: Any, pid: str, *sets: str) -> list[str]:
    answer = tenant.get(f"/projects/{pid}/records", query_string=[("set", s) for s in sets])
    assert answer.status_code == 200, answer.json
    return [record["key"] for record in answer.json]


def test_records_are_filtered_by_intersected_sets(
    tenant: Any, shop: dict[str, Any], inline_worker: InlineWorker
) -> None:
    pid, source = shop["pid"], shop["source"]
    fetched = tenant.post(f"/projects/{pid}/connections/{source['id']}/fetch")
    assert fetched.status_code == 202
    inline_worker.drain()
    assert _keys(tenant, pid) == ["A-1", "A-2", "B-1"]
    assert _keys(tenant, pid, "brand:Acme") == ["A-1", "A-2"]
    assert _keys(tenant, pid, "in-stock") == ["A-2", "B-1"]
    assert _keys(tenant, pid, "low-stock") == ["A-2"]
    assert _keys(tenant, pid, "brand:Acme", "in-stock") == ["A-2"]
    assert _keys(tenant, pid, "bad-price") == ["B-1"]
    assert _keys(tenant, pid, "low-price", "low-stock", "brand:Acme") == ["A-2"]
    cid = shop["channel"]["id"]
    assert _keys(tenant, pid, f"pending-creates:{cid}") == ["A-1", "A-2", "B-1"]
    assert _keys(tenant, pid, f"published:{cid}") == []


def test_each_record_shows_its_state_on_each_channel(
    tenant: Any, shop: dict[str, Any], inline_worker: InlineWorker
) -> None:
    pid, cid = shop["pid"], shop["channel"]["id"]
    tenant.post(f"/projects/{pid}/connections/{shop['source']['id']}/fetch")
    inline_worker.drain()
    before = tenant.get(f"/projects/{pid}/records").json
    assert [r["channels"][0]["state"] for r in before] == ["pending_insert"] * 3
    assert before[0]["channels"][0]["connection_id"] == cid

    _sync(tenant, inline_worker, pid, cid)
    shop["feed"].write_text(
        "sku,title,brand,price,stock\nA-1,Red shirt,Acme,21.00,0\nA-2,Blue shirt,Acme,0.50,3\n"
    )
    tenant.post(f"/projects/{pid}/connections/{shop['source']['id']}/fetch")
    inline_worker.drain()

    after = {
        r["key"]: r["channels"][0]["state"] for r in tenant.get(f"/projects/{pid}/records").json
    }
    assert after == {"A-1": "pending_update", "A-2": "in_sync"}
    assert _keys(tenant, pid, f"pending-updates:{cid}") == ["A-1"]
    assert _keys(tenant, pid, f"published:{cid}") == ["A-1", "A-2"]
    assert _keys(tenant, pid, f"on:{cid}", f"unpublished:{cid}") == []


def test_channel_settings_shape_what_the_channel_receives(
    tenant: Any, shop: dict[str, Any], inline_worker: InlineWorker
) -> None:
    pid, cid = shop["pid"], shop["channel"]["id"]
    shown = tenant.get(f"/projects/{pid}/connections/{cid}").json
    assert shown["currency"] == "EUR"
    assert shown["price_margin"]["round_to_99"] is True
    assert shown["defaults"] == {"condition": "new", "price": "5.00"}

    _sync(tenant, inline_worker, pid, cid)

    sent = {change.key: change.data for change in RecordingChannel.received}
    assert sent["A-1"]["price"] == "20.99"  # 19.90 + 10 % = 21.89, down to .99
    assert sent["A-1"]["currency"] == "EUR" and sent["A-1"]["condition"] == "new"
    assert sent["B-1"]["price"] == "4.99"  # no price: the default 5.00, + 10 %, down to .99


def test_changing_a_channel_setting_updates_every_record_on_the_next_fetch(
    tenant: Any, shop: dict[str, Any], inline_worker: InlineWorker
) -> None:
    pid, cid = shop["pid"], shop["channel"]["id"]
    _sync(tenant, inline_worker, pid, cid)
    patched = tenant.patch(f"/projects/{pid}/connections/{cid}", {"currency": "CHF"})
    assert patched.status_code == 200 and patched.json["currency"] == "CHF"
    tenant.post(f"/projects/{pid}/connections/{shop['source']['id']}/fetch")
    inline_worker.drain()
    assert _keys(tenant, pid, f"pending-updates:{cid}") == ["A-1", "A-2", "B-1"]


@pytest.mark.parametrize(
    "body",
    [
        {"currency": "euro"},
        {"price_margin": {"percent": "lots"}},
        {"price_margin": {"percent": 5000}},
        {"defaults": {"$bad": 1}},
        {"defaults": {"colour": {"nested": True}}},
    ],
)
def test_bad_channel_settings_are_refused_with_422(
    tenant: Any, shop: dict[str, Any], body: dict[str, Any]
) -> None:
    answer = tenant.patch(f"/projects/{shop['pid']}/connections/{shop['channel']['id']}", body)
    assert answer.status_code == 422, answer.json
    assert set(answer.json) >= {"code", "status", "message", "errors"}
    assert next(iter(body)) in answer.json["message"]


def test_an_unknown_set_is_a_422_naming_it_and_the_valid_sets(
    tenant: Any, shop: dict[str, Any]
) -> None:
    answer = tenant.get(f"/projects/{shop['pid']}/records?set=brand:Acme&set=cheapest")
    assert answer.status_code == 422
    assert answer.json["code"] == 422 and answer.json["status"]
    assert "'cheapest' is not a known set" in answer.json["message"]
    assert "with-issues" in answer.json["message"]
    unknown = tenant.get(f"/projects/{shop['pid']}/records?set=on:con_nope")
    assert unknown.status_code == 422 and "con_nope" in unknown.json["message"]


def test_records_paginate_with_the_header(
    tenant: Any, shop: dict[str, Any], inline_worker: InlineWorker
) -> None:
    pid = shop["pid"]
    tenant.post(f"/projects/{pid}/connections/{shop['source']['id']}/fetch")
    inline_worker.drain()
    page = tenant.get(f"/projects/{pid}/records?set=brand:Acme&page=2&page_size=1")
    assert [r["key"] for r in page.json] == ["A-2"]
    assert '"total": 2' in page.headers["X-Pagination"]


def test_a_total_counted_only_so_far_is_marked_as_a_lower_bound(
    tenant: Any, shop: dict[str, Any], inline_worker: InlineWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = shop["pid"]
    tenant.post(f"/projects/{pid}/connections/{shop['source']['id']}/fetch")
    inline_worker.drain()
    exact = tenant.get(f"/projects/{pid}/records?set=in-stock&page_size=1")
    assert [r["key"] for r in exact.json] == ["A-2"]
    assert '"total": 2' in exact.headers["X-Pagination"]
    assert exact.headers["X-Total-Exact"] == "true"
    monkeypatch.setattr("core.recordsets.selection.COUNT_LIMIT", 1)
    for page, key in ((1, "A-2"), (2, "B-1")):
        answer = tenant.get(f"/projects/{pid}/records?set=in-stock&page_size=1&page={page}")
        assert [r["key"] for r in answer.json] == [key]
        assert answer.headers["X-Total-Exact"] == ("false" if page == 1 else "true")
    first = tenant.get(f"/projects/{pid}/records?set=in-stock&page_size=1")
    assert '"next_page": 2' in first.headers["X-Pagination"]


def test_project_settings_of_the_sets_are_shown_and_checked(
    tenant: Any, shop: dict[str, Any]
) -> None:
    project = tenant.get(f"/projects/{shop['pid']}").json
    assert project["low_stock_threshold"] == 4 and project["low_price_threshold"] == "1"
    assert project["stock_field"] == "stock"
    patched = tenant.patch(f"/projects/{shop['pid']}", {"low_price_threshold": "2.50"})
    assert patched.json["low_price_threshold"] == "2.50"
    bad = tenant.patch(f"/projects/{shop['pid']}", {"low_stock_threshold": -1})
    assert bad.status_code == 422


def test_another_tenants_project_answers_404(
    make_tenant: Any, shop: dict[str, Any], store: Store
) -> None:
    other = make_tenant("other")
    assert other.get(f"/projects/{shop['pid']}/records?set=low-stock").status_code == 404
    assert other.get(f"/projects/{shop['pid']}/orders?set=today").status_code == 404
