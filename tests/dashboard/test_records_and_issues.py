"""The records browser (sets, states per channel in colours) and the grouped issues page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.store import Store
from tests.conftest import InlineWorker
from tests.dashboard.conftest import Browser
from tests.plugins.fakes import add_connectors

FEED = "sku,title,price\nA-1,Red shirt,19.90\nA-2,Blue shirt,21.50\nA-3,Green shirt,9.00\n"


@pytest.fixture
def shop(
    browser: Browser,
    tmp_path: Path,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    inline_worker: InlineWorker,
) -> dict[str, Any]:
    """Three records fetched; the channel took A-1 and refused A-2 and A-3 (two issues)."""
    add_connectors(monkeypatch, {"recording": "tests.plugins.fakes:RecordingChannel"})
    feed = tmp_path / "feed.csv"
    feed.write_text(FEED)
    pid = browser.post("/projects", {"name": "Shop"}).location.rsplit("/", 1)[1]
    fail = {"A-2": "Invalid GTIN 123 for 'A-2'", "A-3": "Invalid GTIN 456 for 'A-3'"}
    for connector, role, settings in (
        ("feed", "source", {"url": str(feed)}),
        ("recording", "channel", {"fail_keys": fail}),
    ):
        browser.post(
            f"/projects/{pid}/connections",
            {"connector": connector, "role": role, "settings": json.dumps(settings)},
        )
    ids = {c["role"]: c["_id"] for c in store.connections.find({"project_id": pid})}
    browser.post(f"/projects/{pid}/connections/{ids['channel']}/sync")
    inline_worker.drain()
    return {"pid": pid, "feed": feed, **ids}


def _row(page: str, key: str) -> str:
    start = page.index(f"<code>{key}</code>")
    return page[start : page.index("</tr>", start)]


def test_each_record_shows_its_state_on_each_channel_in_colour(
    browser: Browser, shop: dict[str, Any], inline_worker: InlineWorker
) -> None:
    shop["feed"].write_text(FEED.replace("19.90", "17.90") + "A-4,Black shirt,30.00\n")
    browser.post(f"/projects/{shop['pid']}/connections/{shop['source']}/fetch")
    inline_worker.drain()
    page = browser.text(f"/projects/{shop['pid']}/records")
    assert 'class="cell pending_update"' in _row(page, "A-1")
    assert 'class="cell pending_insert"' in _row(page, "A-4")
    assert "price=17.90" in _row(page, "A-1")
    assert "4 records" in page


def test_records_are_filtered_by_the_intersection_of_sets(
    browser: Browser, shop: dict[str, Any], inline_worker: InlineWorker
) -> None:
    shop["feed"].write_text(FEED.replace("19.90", "17.90") + "A-4,Black shirt,30.00\n")
    browser.post(f"/projects/{shop['pid']}/connections/{shop['source']}/fetch")
    inline_worker.drain()
    base = f"/projects/{shop['pid']}/records"
    updates = browser.text(f"{base}?set=pending-updates:{shop['channel']}")
    assert "<code>A-1</code>" in updates and "<code>A-4</code>" not in updates
    both = browser.text(f"{base}?set=with-issues&set=pending-creates:{shop['channel']}")
    assert "<code>A-2</code>" in both and "<code>A-3</code>" in both
    assert "<code>A-4</code>" not in both and "<code>A-1</code>" not in both


def test_a_big_set_shows_how_far_it_was_counted_and_every_page(
    browser: Browser, shop: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("api.dashboard.records.PAGE_SIZE", 1)
    monkeypatch.setattr("core.recordsets.selection.COUNT_LIMIT", 1)
    base = f"/projects/{shop['pid']}/records?set=on:{shop['channel']}"
    first = browser.text(base)
    assert "more than 1 records" in first and "<code>A-1</code>" in first
    last = browser.text(f"{base}&page=3")
    assert "3 records" in last and "<code>A-3</code>" in last
    beyond = browser.text(f"{base}&page=99999999999999999999999")
    assert "3 records" in beyond and "<code>A-3</code>" in beyond


def test_an_unknown_set_is_refused_listing_the_valid_ones(
    browser: Browser, shop: dict[str, Any]
) -> None:
    answer = browser.get(f"/projects/{shop['pid']}/records?set=shiny")
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "shiny" in page and "valid sets" in page


def test_issues_are_grouped_by_pattern(browser: Browser, shop: dict[str, Any]) -> None:
    page = browser.text(f"/projects/{shop['pid']}/issues")
    assert "2 open issues in 1 group" in page
    assert "Invalid GTIN &lt;n&gt; for &lt;value&gt;" in page
    assert "<code>A-2</code>" in page and "<code>A-3</code>" in page


def test_the_run_page_lists_the_issues_the_run_raised(
    browser: Browser, shop: dict[str, Any], store: Store
) -> None:
    run = store.runs.find_one({"project_id": shop["pid"]})
    page = browser.text(f"/runs/{run['_id']}")
    assert "Issues raised <small>2</small>" in page
    assert "Invalid GTIN 123 for" in page


def test_a_record_gone_from_the_feed_shows_as_a_pending_delete(
    browser: Browser, shop: dict[str, Any], inline_worker: InlineWorker
) -> None:
    shop["feed"].write_text(FEED.replace("A-1,Red shirt,19.90\n", "") + "A-4,Black,1.00\n")
    browser.post(f"/projects/{shop['pid']}/connections/{shop['source']}/fetch")
    inline_worker.drain()
    page = browser.text(f"/projects/{shop['pid']}/records")
    assert "Deletes waiting" in page
    assert 'class="cell pending_delete"' in _row(page, "A-1")
