"""A run's page: the stage timeline, the progress the bar polls, the error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.store import Store
from tests.conftest import InlineWorker
from tests.dashboard.conftest import Browser


def _project_with_feed(browser: Browser, store: Store, url: str) -> dict[str, str]:
    pid = browser.post("/projects", {"name": "Shop"}).location.rsplit("/", 1)[1]
    browser.post(
        f"/projects/{pid}/connections",
        {"connector": "feed", "role": "source", "settings": json.dumps({"url": url})},
    )
    browser.post(f"/projects/{pid}/jobs", {"kind": "fetch", "mode": "manual"})
    job = store.jobs.find_one({"project_id": pid})
    return {"pid": pid, "job": job["_id"]}


def _run_now(browser: Browser, shop: dict[str, str]) -> str:
    answer = browser.post(f"/projects/{shop['pid']}/jobs/{shop['job']}/run")
    return str(answer.location.rsplit("/", 1)[1])


def test_a_queued_run_shows_an_empty_bar_that_keeps_polling(
    browser: Browser, store: Store, csv_feed: Path
) -> None:
    run_id = _run_now(browser, _project_with_feed(browser, store, str(csv_feed)))
    page = browser.text(f"/runs/{run_id}")
    assert 'aria-valuenow="0"' in page and 'data-finished="false"' in page
    assert '<meta http-equiv="refresh"' in page  # refreshes itself without JavaScript
    progress = browser.get(f"/runs/{run_id}/progress").json
    assert progress == {"state": "queued", "percent": 0, "label": "queued", "finished": False}


def test_a_finished_run_shows_its_stages_with_timings_and_counts(
    browser: Browser, store: Store, csv_feed: Path, inline_worker: InlineWorker
) -> None:
    run_id = _run_now(browser, _project_with_feed(browser, store, str(csv_feed)))
    inline_worker.drain()
    page = browser.text(f"/runs/{run_id}")
    assert 'aria-valuenow="100"' in page and 'data-finished="true"' in page
    assert "<td>import</td>" in page and '<span class="pill">inserted 2</span>' in page
    assert browser.get(f"/runs/{run_id}/progress").json["percent"] == 100


def test_a_failed_run_shows_its_error(
    browser: Browser, store: Store, tmp_path: Path, inline_worker: InlineWorker
) -> None:
    run_id = _run_now(browser, _project_with_feed(browser, store, str(tmp_path / "gone.csv")))
    inline_worker.drain()
    page = browser.text(f"/runs/{run_id}")
    assert '<span class="state bad">failed</span>' in page
    assert "gone.csv" in page and 'role="alert"' in page


def test_another_tenants_run_is_not_found(
    browser: Browser, make_browser: Any, store: Store, csv_feed: Path
) -> None:
    run_id = _run_now(browser, _project_with_feed(browser, store, str(csv_feed)))
    other = make_browser("other")
    assert other.get(f"/runs/{run_id}").status_code == 404
    assert other.get(f"/runs/{run_id}/progress").status_code == 404
