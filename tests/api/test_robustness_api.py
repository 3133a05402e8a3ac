"""Bad input and broken dependencies answer clear 4xx/5xx JSON, and leave nothing blocked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from api.app import create_app
from core.config import Settings
from core.store import Store
from core.tenants import create_tenant
from tests.conftest import Tenant


def _project_with_job(tenant: Any) -> tuple[str, str]:
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    jid = tenant.post(f"/projects/{pid}/jobs/", {"kind": "sync"}).json["id"]
    return pid, jid


def test_run_now_with_the_queue_down_answers_503_and_leaves_the_job_free(
    tenant: Any, broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid, jid = _project_with_job(tenant)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(broker, "enqueue", refuse)
    down = tenant.post(f"/projects/{pid}/jobs/{jid}/runs")
    assert down.status_code == 503
    assert "queue is unavailable" in down.json["message"]
    assert tenant.get(f"/projects/{pid}/runs").json == []

    monkeypatch.undo()
    assert tenant.post(f"/projects/{pid}/jobs/{jid}/runs").status_code == 202


def test_a_connection_whose_connector_was_removed_is_still_listed(
    tenant: Any, csv_feed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    tenant.post(f"/projects/{pid}/connections/", {"connector": "file", "role": "channel"})
    monkeypatch.setenv("SYNCFARM_CONNECTORS", "feed")
    listed = tenant.get(f"/projects/{pid}/connections/")
    assert listed.status_code == 200
    assert listed.json[0]["available"] is False


def test_feed_settings_that_would_break_later_are_refused_up_front(
    tenant: Any, csv_feed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    bad_encoding = tenant.post(
        f"/projects/{pid}/connections/",
        {
            "connector": "feed",
            "role": "source",
            "settings": {"url": str(csv_feed), "encoding": "klingon"},
        },
    )
    assert bad_encoding.status_code == 422 and "klingon" in bad_encoding.json["message"]
    bad_delimiter = tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": "file", "role": "channel", "settings": {"delimiter": "\n"}},
    )
    assert bad_delimiter.status_code == 422 and "delimiter" in bad_delimiter.json["message"]

    monkeypatch.setenv("SYNCFARM_FILE_ROOTS", str(tmp_path / "feeds"))
    outside = tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": "feed", "role": "source", "settings": {"url": "/etc/passwd"}},
    )
    assert outside.status_code == 422 and "SYNCFARM_FILE_ROOTS" in outside.json["message"]


def test_renaming_a_job_keeps_an_overdue_fire_due(tenant: Any, store: Store) -> None:
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    jid = tenant.post(
        f"/projects/{pid}/jobs/",
        {"kind": "sync", "schedule": {"mode": "daily", "times": ["06:00"]}},
    ).json["id"]
    store.jobs.update_one({"_id": jid}, {"$set": {"next_fire_at": 1_000}})
    tenant.patch(f"/projects/{pid}/jobs/{jid}", {"name": "nightly"})
    assert (store.jobs.find_one({"_id": jid}) or {})["next_fire_at"] == 1_000


# --- the same API over a real socket (nx-27017), where BSON limits apply -------------------


@pytest.fixture
def nx_tenant(nx_store: Store, tmp_path: Path, broker: Any) -> Tenant:
    from dataclasses import replace

    app = create_app(
        {
            "TESTING": True,
            "SYNCFARM_SETTINGS": replace(Settings(), data_dir=tmp_path, broker_url="stub://"),
            "SYNCFARM_STORE": nx_store,
            "SYNCFARM_BROKER": broker,
            "SYNCFARM_REDIS": None,
        }
    )
    doc, key = create_tenant(nx_store, "socket")
    return Tenant(app.test_client(), key, doc)


def test_over_nx27017_a_project_job_and_run_round_trip(nx_tenant: Any) -> None:
    pid, jid = _project_with_job(nx_tenant)
    nx_tenant.patch(
        f"/projects/{pid}/jobs/{jid}", {"schedule": {"mode": "daily", "times": ["06:00"]}}
    )
    job = nx_tenant.get(f"/projects/{pid}/jobs/{jid}").json
    assert job["next_fire_at"].endswith("+00:00")
    run = nx_tenant.post(f"/projects/{pid}/jobs/{jid}/runs").json
    assert nx_tenant.get(f"/runs/{run['id']}").json["queued_at"] == run["queued_at"]
    assert nx_tenant.post(f"/projects/{pid}/jobs/{jid}/runs").status_code == 409


def test_over_nx27017_values_bson_cannot_hold_answer_422(nx_tenant: Any) -> None:
    huge = nx_tenant.post(
        "/projects/", {"name": "x", "rules": [{"op": "set", "field": "n", "value": 10**20}]}
    )
    assert huge.status_code == 422 and "64 bits" in huge.json["message"]
    far_page = nx_tenant.get("/projects/?page=99999999999999999999")
    assert 400 <= far_page.status_code < 500
    assert nx_tenant.get("/projects/").json == []


def test_a_request_racing_another_for_the_same_document_answers_409(
    tenant: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymongo.errors import DuplicateKeyError

    def raced(*args: Any, **kwargs: Any) -> Any:
        raise DuplicateKeyError("E11000 duplicate key error")

    monkeypatch.setattr(type(store.projects), "insert_one", raced)
    answer = tenant.post("/projects/", {"name": "Shop"})
    assert answer.status_code == 409
    assert "another request at the same time" in answer.json["message"]


def test_a_database_outage_answers_503_with_retry_after(
    tenant: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymongo.errors import ServerSelectionTimeoutError

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ServerSelectionTimeoutError("127.0.0.1:27017: connection refused")

    monkeypatch.setattr(type(store.projects), "find", down)
    answer = tenant.get("/projects/")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert "cannot be reached right now" in answer.json["message"]
