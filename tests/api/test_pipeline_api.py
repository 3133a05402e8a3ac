"""The REST side of the pipeline: connection buttons, records, changes, approvals, issues,
task jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.store import Store
from tests.conftest import InlineWorker
from tests.plugins.fakes import add_connectors


@pytest.fixture
def shop(
    tenant: Any,
    csv_feed: Path,
    store: Store,
    settings: Any,
    broker: Any,
    monkeypatch: pytest.MonkeyPatch,
    inline_worker: InlineWorker,
) -> dict[str, Any]:
    add_connectors(monkeypatch, {"recording": "tests.plugins.fakes:RecordingChannel"})
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    source = tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": "feed", "role": "source", "settings": {"url": str(csv_feed)}},
    ).json
    channel = tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": "recording", "role": "channel", "auto_absorb": False},
    ).json
    return {"pid": pid, "source": source, "channel": channel}


def _work(broker: Any) -> None:
    """Run what was queued, as a worker would."""
    InlineWorker(broker).drain()


def test_connection_buttons_fetch_then_send_and_changes_wait_for_approval(
    tenant: Any, shop: dict[str, Any], broker: Any
) -> None:
    pid, source, channel = shop["pid"], shop["source"], shop["channel"]
    fetched = tenant.post(f"/projects/{pid}/connections/{source['id']}/fetch")
    assert fetched.status_code == 202 and fetched.json["job_kind"] == "fetch"
    _work(broker)
    assert tenant.get(f"/runs/{fetched.json['id']}").json["state"] == "succeeded"
    records = tenant.get(f"/projects/{pid}/records").json
    assert [r["key"] for r in records] == ["A-1", "A-2"]
    waiting = tenant.get(f"/projects/{pid}/changes?channel={channel['id']}&state=unapproved")
    assert [c["key"] for c in waiting.json] == ["A-1", "A-2"]

    approved = tenant.post(
        f"/projects/{pid}/changes/approve", {"channel": channel["id"], "keys": ["A-2"]}
    )
    assert approved.json == {"approved": 1}
    sent = tenant.post(f"/projects/{pid}/connections/{channel['id']}/send")
    assert sent.status_code == 202
    _work(broker)
    done = tenant.get(f"/projects/{pid}/changes?channel={channel['id']}&state=done").json
    assert [c["key"] for c in done] == ["A-2"]


def test_fetch_on_a_channel_and_send_on_a_source_are_refused(
    tenant: Any, shop: dict[str, Any]
) -> None:
    pid = shop["pid"]
    wrong = tenant.post(f"/projects/{pid}/connections/{shop['channel']['id']}/fetch")
    assert wrong.status_code == 422 and "channel" in wrong.json["message"]
    wrong = tenant.post(f"/projects/{pid}/connections/{shop['source']['id']}/send")
    assert wrong.status_code == 422


def test_a_second_primary_source_is_refused_naming_the_roles_to_use(
    tenant: Any, shop: dict[str, Any], csv_feed: Path
) -> None:
    second = tenant.post(
        f"/projects/{shop['pid']}/connections/",
        {"connector": "feed", "role": "source", "settings": {"url": str(csv_feed)}},
    )
    assert second.status_code == 422 and "secondary" in second.json["message"]


def test_rules_are_validated_when_saved(tenant: Any, shop: dict[str, Any]) -> None:
    bad = tenant.patch(
        f"/projects/{shop['pid']}",
        {"rules": [{"op": "set", "field": "price", "expr": {"pow": [2, 3]}}]},
    )
    assert bad.status_code == 422 and "rules[0]" in bad.json["message"]


def test_reset_clocks_answers_the_connection(tenant: Any, shop: dict[str, Any]) -> None:
    reset = tenant.post(f"/projects/{shop['pid']}/connections/{shop['source']['id']}/reset-clocks")
    assert reset.status_code == 200 and reset.json["id"] == shop["source"]["id"]


def test_a_task_job_gets_its_as_needed_follow_up_which_cannot_be_scheduled(
    tenant: Any, shop: dict[str, Any]
) -> None:
    pid = shop["pid"]
    images = tenant.post(
        f"/projects/{pid}/connections/", {"connector": "images", "role": "channel"}
    ).json
    unknown = tenant.post(
        f"/projects/{pid}/jobs/",
        {"kind": "task", "connection_id": images["id"], "task": "images.paint"},
    )
    assert unknown.status_code == 422 and "images.check" in unknown.json["message"]
    alone = tenant.post(
        f"/projects/{pid}/jobs/",
        {"kind": "task", "connection_id": images["id"], "task": "images.download"},
    )
    assert alone.status_code == 422 and "images.check" in alone.json["message"]
    check = tenant.post(
        f"/projects/{pid}/jobs/",
        {
            "kind": "task",
            "connection_id": images["id"],
            "task": "images.check",
            "schedule": {"mode": "daily", "times": ["03:00"]},
        },
    ).json
    jobs = tenant.get(f"/projects/{pid}/jobs/").json
    follow_up = next(j for j in jobs if j.get("parent_job_id") == check["id"])
    assert follow_up["task"] == "images.download"
    assert follow_up["schedule"] == {"mode": "as_needed"}
    refused = tenant.patch(
        f"/projects/{pid}/jobs/{follow_up['id']}",
        {"schedule": {"mode": "interval", "every_minutes": 60}},
    )
    assert refused.status_code == 422 and check["id"] in refused.json["message"]


def test_troubleshoot_groups_issues_by_pattern_and_reset_sends_stopped_changes_again(
    tenant: Any, shop: dict[str, Any], store: Store
) -> None:
    pid, channel = shop["pid"], shop["channel"]
    for key, message in [
        ("A-1", "Invalid GTIN 123 for 'A-1'"),
        ("A-2", "Invalid GTIN 456 for 'A-2'"),
        ("A-3", "Price missing"),
    ]:
        store.issues.insert_one(
            {
                "_id": f"{channel['id']}:{key}",
                "project_id": pid,
                "connection_id": channel["id"],
                "key": key,
                "code": "E42",
                "message": message,
                "count": 5,
                "needs_person": True,
                "first_seen": 1,
                "last_seen": 2,
            }
        )
        store.changes.insert_one(
            {
                "_id": f"{channel['id']}:{key}",
                "project_id": pid,
                "connection_id": channel["id"],
                "key": key,
                "op": "insert",
                "state": "stopped",
                "identical_failures": 5,
            }
        )
    groups = tenant.get(f"/projects/{pid}/troubleshoot").json
    assert [(g["pattern"], g["count"]) for g in groups] == [
        ("Invalid GTIN <n> for <value>", 2),
        ("Price missing", 1),
    ]
    assert groups[0]["sample_keys"] == ["A-1", "A-2"] and groups[0]["needs_person"] == 2

    reset = tenant.post(
        f"/projects/{pid}/changes/reset", {"channel": channel["id"], "keys": ["A-1"]}
    )
    assert reset.json == {"reset": 1}
    pending = tenant.get(f"/projects/{pid}/changes?channel={channel['id']}&state=pending").json
    assert [c["key"] for c in pending] == ["A-1"]
    assert tenant.post(f"/projects/{pid}/changes/reset", {"channel": channel["id"]}).json == {
        "reset": 2
    }
