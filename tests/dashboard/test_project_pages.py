"""The projects overview and a project's page: forms, buttons, and who may see what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.store import Store
from tests.conftest import InlineWorker, Tenant
from tests.dashboard.conftest import Browser


def _new_project(browser: Browser, name: str = "Shop", timezone: str = "UTC") -> str:
    answer = browser.post("/projects", {"name": name, "timezone": timezone})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
    return str(answer.location.rsplit("/", 1)[1])


@pytest.fixture
def shop(browser: Browser, csv_feed: Path) -> dict[str, Any]:
    """A project made through the forms: a feed source, a file channel and a manual sync job."""
    pid = _new_project(browser)
    for connector, role, settings in (
        ("feed", "source", f'{{"url": "{csv_feed}"}}'),
        ("file", "channel", '{"filename": "products.csv"}'),
    ):
        added = browser.post(
            f"/projects/{pid}/connections",
            {"connector": connector, "role": role, "settings": settings},
        )
        assert added.status_code == 302, added.get_data(as_text=True)[:2000]
    assert browser.post(f"/projects/{pid}/jobs", {"kind": "sync", "mode": "manual"}).status_code
    return {"pid": pid}


def _ids(store: Store, pid: str) -> dict[str, str]:
    found = {c["role"]: c["_id"] for c in store.connections.find({"project_id": pid})}
    found["job"] = store.jobs.find_one({"project_id": pid, "kind": "sync"})["_id"]
    return found


def test_a_project_without_an_enabled_schedule_is_flagged_on_the_overview(
    browser: Browser,
) -> None:
    _new_project(browser, "Quiet shop")
    page = browser.text("/")
    assert "Quiet shop" in page
    assert "will not produce any import/export" in page


def test_a_bad_timezone_is_refused_with_the_apis_message(browser: Browser, tenant: Tenant) -> None:
    answer = browser.post("/projects", {"name": "Shop", "timezone": "Mars/Olympus"})
    api = tenant.post("/projects/", {"name": "Shop", "timezone": "Mars/Olympus"})
    assert answer.status_code == 422 == api.status_code
    assert api.json["message"] in answer.get_data(as_text=True).replace("&#39;", "'")


def test_the_project_page_shows_a_tile_per_job_and_the_connection_buttons(
    browser: Browser, shop: dict[str, Any]
) -> None:
    page = browser.text(f"/projects/{shop['pid']}")
    assert "Run now" in page and "Change schedule" in page
    for button in ("Fetch", "Send", "Sync", "Pause", "Settings", "Stats", "Reset clocks"):
        assert f">{button}<" in page or f"{button}</" in page, button


def test_a_bad_schedule_shows_the_apis_error_next_to_the_form(
    browser: Browser, shop: dict[str, Any], store: Store, tenant: Tenant
) -> None:
    pid, job = shop["pid"], _ids(store, shop["pid"])["job"]
    answer = browser.post(
        f"/projects/{pid}/jobs/{job}/schedule", {"mode": "interval", "every_minutes": "0"}
    )
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "schedule.every_minutes must be between 1 and 1440, got 0" in page
    assert 'value="0"' in page  # what was typed is kept
    assert store.jobs.find_one({"_id": job})["schedule"] == {"mode": "manual"}


def test_a_new_schedule_takes_effect_and_shows_the_next_run(
    browser: Browser, shop: dict[str, Any], store: Store
) -> None:
    pid, job = shop["pid"], _ids(store, shop["pid"])["job"]
    answer = browser.post(
        f"/projects/{pid}/jobs/{job}/schedule", {"mode": "daily", "times": "06:00, 18:00"}
    )
    assert answer.status_code == 302
    assert store.jobs.find_one({"_id": job})["next_fire_at"] is not None
    page = browser.text(f"/projects/{pid}")
    assert "daily at 06:00, 18:00" in page
    assert "will not produce any import/export" not in page


def test_an_as_needed_schedule_is_refused_naming_why(
    browser: Browser, shop: dict[str, Any], store: Store
) -> None:
    pid, job = shop["pid"], _ids(store, shop["pid"])["job"]
    answer = browser.post(f"/projects/{pid}/jobs/{job}/schedule", {"mode": "as_needed"})
    assert answer.status_code == 422
    assert "has no parent task" in answer.get_data(as_text=True)


def test_bad_connection_settings_show_the_connectors_message(
    browser: Browser, shop: dict[str, Any]
) -> None:
    answer = browser.post(
        f"/projects/{shop['pid']}/connections",
        {"connector": "file", "role": "channel", "settings": '{"filename": 3}'},
    )
    assert answer.status_code == 422
    assert "invalid settings for connector" in answer.get_data(as_text=True).replace("&#39;", "'")
    not_json = browser.post(
        f"/projects/{shop['pid']}/connections",
        {"connector": "file", "role": "channel", "settings": "{filename"},
    )
    assert not_json.status_code == 422
    assert "settings must be JSON" in not_json.get_data(as_text=True)


def test_run_now_queues_a_run_and_opens_its_page(
    browser: Browser, shop: dict[str, Any], store: Store, inline_worker: InlineWorker
) -> None:
    pid, job = shop["pid"], _ids(store, shop["pid"])["job"]
    answer = browser.post(f"/projects/{pid}/jobs/{job}/run")
    assert answer.status_code == 302 and "/dashboard/runs/run_" in answer.location
    inline_worker.drain()
    run_page = browser.text(answer.location.removeprefix("/dashboard"))
    assert "succeeded" in run_page and 'aria-valuenow="100"' in run_page
    assert "succeeded" in browser.text("/")


def test_run_now_twice_says_which_run_already_waits(
    browser: Browser, shop: dict[str, Any], store: Store
) -> None:
    pid, job = shop["pid"], _ids(store, shop["pid"])["job"]
    browser.post(f"/projects/{pid}/jobs/{job}/run")
    again = browser.post(f"/projects/{pid}/jobs/{job}/run")
    assert again.status_code == 409
    assert "already has run" in again.get_data(as_text=True)


def test_the_send_button_shows_the_pending_changes_and_sends_them(
    browser: Browser, shop: dict[str, Any], store: Store, inline_worker: InlineWorker
) -> None:
    pid, ids = shop["pid"], _ids(store, shop["pid"])
    assert browser.post(f"/projects/{pid}/connections/{ids['source']}/fetch").status_code == 302
    inline_worker.drain()
    assert '<span class="count" title="pending changes">2</span>' in browser.text(
        f"/projects/{pid}"
    )
    assert '<td class="num">2</td>' in browser.text("/")  # the overview's pending changes
    assert browser.post(f"/projects/{pid}/connections/{ids['channel']}/send").status_code == 302
    inline_worker.drain()
    assert '<span class="count" title="pending changes">0</span>' in browser.text(
        f"/projects/{pid}"
    )


def test_fetch_on_a_channel_is_refused_with_the_apis_message(
    browser: Browser, shop: dict[str, Any], store: Store
) -> None:
    pid, ids = shop["pid"], _ids(store, shop["pid"])
    answer = browser.post(f"/projects/{pid}/connections/{ids['channel']}/fetch")
    assert answer.status_code == 422
    assert "fetch reads sources" in answer.get_data(as_text=True)


def test_pause_and_play_of_a_project_and_of_a_connection(
    browser: Browser, shop: dict[str, Any], store: Store
) -> None:
    pid, ids = shop["pid"], _ids(store, shop["pid"])
    browser.post(f"/projects/{pid}/pause")
    assert store.projects.find_one({"_id": pid})["paused"] is True
    assert "paused: no scheduled runs until resumed" in browser.text("/")
    browser.post(f"/projects/{pid}/resume")
    assert store.projects.find_one({"_id": pid})["paused"] is False
    browser.post(f"/projects/{pid}/connections/{ids['channel']}/pause")
    assert store.connections.find_one({"_id": ids["channel"]})["paused"] is True
    browser.post(f"/projects/{pid}/connections/{ids['channel']}/play")
    assert store.connections.find_one({"_id": ids["channel"]})["paused"] is False


def test_reset_clocks_says_the_next_fetch_is_a_full_rescan(
    browser: Browser, shop: dict[str, Any], store: Store
) -> None:
    pid, ids = shop["pid"], _ids(store, shop["pid"])
    answer = browser.post(f"/projects/{pid}/connections/{ids['source']}/reset-clocks")
    assert answer.status_code == 302
    assert "the next fetch is a full rescan" in browser.text(f"/projects/{pid}")


def test_the_settings_page_saves_and_refuses_like_the_api(
    browser: Browser, shop: dict[str, Any], store: Store
) -> None:
    pid, ids = shop["pid"], _ids(store, shop["pid"])
    path = f"/projects/{pid}/connections/{ids['channel']}"
    assert "products.csv" in browser.text(path)
    saved = browser.post(
        path, {"name": "Feed file", "settings": '{"filename": "all.csv"}', "order": "2"}
    )
    assert saved.status_code == 302
    stored = store.connections.find_one({"_id": ids["channel"]})
    assert stored["name"] == "Feed file" and stored["settings"]["filename"] == "all.csv"
    refused = browser.post(path, {"name": "x", "settings": "{}", "order": "-1"})
    assert refused.status_code == 422
    assert "order" in refused.get_data(as_text=True)


def test_the_stats_page_counts_records_and_changes(
    browser: Browser, shop: dict[str, Any], store: Store, inline_worker: InlineWorker
) -> None:
    pid, ids = shop["pid"], _ids(store, shop["pid"])
    browser.post(f"/projects/{pid}/connections/{ids['source']}/fetch")
    inline_worker.drain()
    page = browser.text(f"/projects/{pid}/stats")
    assert "<strong>2</strong> records" in page


def test_another_tenants_project_is_not_found(
    browser: Browser, make_browser: Any, shop: dict[str, Any]
) -> None:
    other = make_browser("other")
    for path in ("", "/records", "/issues", "/stats"):
        answer = other.get(f"/projects/{shop['pid']}{path}")
        assert answer.status_code == 404, path
    assert other.post(f"/projects/{shop['pid']}/pause").status_code == 404
    assert "Shop" not in other.text("/")


def test_an_operator_sees_every_tenants_projects_and_acts_on_them(
    browser: Browser, operator: Browser, shop: dict[str, Any], store: Store
) -> None:
    page = operator.text("/")
    assert "Shop" in page and "acme" in page
    assert "tenant acme" in operator.text(f"/projects/{shop['pid']}")
    assert operator.post(f"/projects/{shop['pid']}/pause").status_code == 302
    assert store.projects.find_one({"_id": shop["pid"]})["paused"] is True


def test_a_channels_margin_and_defaults_set_on_its_page_shape_the_exported_file(
    browser: Browser, shop: dict[str, Any], store: Store, settings: Any, inline_worker: InlineWorker
) -> None:
    pid, ids = shop["pid"], _ids(store, shop["pid"])
    path = f"/projects/{pid}/connections/{ids['channel']}"
    saved = browser.post(
        path,
        {
            "name": "file",
            "settings": '{"filename": "products.csv"}',
            "order": "0",
            "auto_absorb": "on",
            "currency": "eur",
            "price_margin": '{"percent": 10, "round_to_99": true}',
            "defaults": '{"condition": "new"}',
        },
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    page = browser.text(path)
    assert 'value="EUR"' in page and "round_to_99" in page and "condition" in page

    browser.post(f"/projects/{pid}/connections/{ids['channel']}/sync")
    inline_worker.drain()
    exported = next(Path(settings.data_dir).rglob(f"{ids['channel']}.csv")).read_text()
    # 19.90 + 10 % = 21.89 → 20.99 and 21.50 + 10 % = 23.65 → 22.99 (never rounded up)
    assert exported.splitlines()[1:] == [
        "A-1,Red shirt,20.99,new,EUR",
        "A-2,Blue shirt,22.99,new,EUR",
    ]

    refused = browser.post(
        path, {"name": "file", "settings": "{}", "order": "0", "price_margin": '{"percent": 5000}'}
    )
    assert refused.status_code == 422 and "percent" in refused.get_data(as_text=True)
    assert store.connections.find_one({"_id": ids["channel"]})["currency"] == "EUR"
