"""Retention of events and runs, removal of spool directories, expiry of stuck `sending`
changes (mongomock store)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.expiry import NO_RESULT, expire_sending_changes
from core.retention import DAY_MS, RetentionPolicy, clean_up, delete_old_runs
from core.store import Store

NOW = 1_000 * DAY_MS
HOUR_MS = 3600 * 1000


def _event(n: int, project_id: str, age_days: float) -> dict[str, Any]:
    return {
        "_id": f"evt_{project_id}_{n}",
        "project_id": project_id,
        "received_at": NOW - int(age_days * DAY_MS),
    }


def _run(run_id: str, age_days: float, state: str = "succeeded", job_id: str = "job_1") -> Any:
    return {
        "_id": run_id,
        "project_id": "prj_1",
        "job_id": job_id,
        "state": state,
        "queued_at": NOW - int(age_days * DAY_MS),
    }


def test_events_older_than_the_retention_are_deleted_in_every_project(store: Store) -> None:
    store.projects.insert_many([{"_id": "prj_1"}, {"_id": "prj_2"}])
    store.events.insert_many(
        [_event(n, "prj_1", 8 + n) for n in range(3)]
        + [_event(n, "prj_2", 10) for n in range(2)]
        + [_event(9, "prj_1", 6), _event(9, "prj_2", 0.5)]
    )
    report = clean_up(store, RetentionPolicy(event_days=7, run_days=0), now=NOW)
    assert report.events == 5
    assert sorted(doc["_id"] for doc in store.events.find()) == ["evt_prj_1_9", "evt_prj_2_9"]
    assert not report.more


def _passes(store: Store, policy: RetentionPolicy) -> list[int]:
    """Events deleted by each pass, until a pass says nothing more is left."""
    passes = []
    report = clean_up(store, policy, now=NOW)
    passes.append(report.events)
    while report.more:
        report = clean_up(store, policy, now=NOW, events_resume_after=report.events_resume_after)
        passes.append(report.events)
    return passes


def test_a_pass_deletes_at_most_its_bound_and_the_next_pass_continues(store: Store) -> None:
    store.projects.insert_many([{"_id": "prj_1"}, {"_id": "prj_2"}])
    store.events.insert_many([_event(n, "prj_1", 30) for n in range(25)])
    store.events.insert_many([_event(n, "prj_2", 30) for n in range(3)])
    policy = RetentionPolicy(event_days=7, run_days=0, max_deletes=10)
    assert _passes(store, policy) == [10, 10, 8]
    assert store.events.count_documents({}) == 0


def test_a_pass_looks_at_a_bounded_number_of_projects_and_the_next_goes_on(
    store: Store,
) -> None:
    store.projects.insert_many([{"_id": f"prj_{p}"} for p in range(5)])
    store.events.insert_many([_event(1, f"prj_{p}", 30) for p in range(5)])
    policy = RetentionPolicy(event_days=7, run_days=0, max_projects=2)
    assert _passes(store, policy) == [2, 2, 1]
    assert store.events.count_documents({}) == 0


def test_old_runs_are_deleted_but_not_unfinished_ones_nor_a_jobs_last_run(store: Store) -> None:
    store.runs.insert_many(
        [
            _run("run_old_1", 40),
            _run("run_old_2", 35, state="failed"),
            _run("run_recent", 2),
            _run("run_stuck", 50, state="queued"),
            _run("run_rare_old", 60, job_id="job_rare"),
            _run("run_rare_last", 45, job_id="job_rare"),
        ]
    )
    report = clean_up(store, RetentionPolicy(event_days=0, run_days=30), now=NOW)
    assert report.runs == 3
    assert sorted(doc["_id"] for doc in store.runs.find()) == [
        "run_rare_last",
        "run_recent",
        "run_stuck",
    ]


def test_a_jobs_last_finished_run_is_kept_while_its_next_run_is_under_way(store: Store) -> None:
    """A job that runs rarely: its next run started, so its last finished run is not its
    latest; deleting it would leave no result and no "last ran" in its history."""
    store.runs.insert_many(
        [
            _run("run_older", 70, job_id="job_monthly"),
            _run("run_last_finished", 40, job_id="job_monthly"),
            _run("run_under_way", 0.1, state="running", job_id="job_monthly"),
        ]
    )
    report = clean_up(store, RetentionPolicy(event_days=0, run_days=30), now=NOW)
    assert report.runs == 1
    assert sorted(doc["_id"] for doc in store.runs.find()) == ["run_last_finished", "run_under_way"]


def test_a_run_that_an_open_issue_points_to_is_kept(store: Store) -> None:
    store.runs.insert_many([_run("run_with_issue", 40), _run("run_plain", 39), _run("run_new", 1)])
    issue = {"_id": "con_1:sku1", "project_id": "prj_1", "run_id": "run_with_issue"}
    store.issues.insert_one(issue)
    clean_up(store, RetentionPolicy(event_days=0, run_days=30), now=NOW)
    assert sorted(doc["_id"] for doc in store.runs.find()) == ["run_new", "run_with_issue"]


def test_the_run_scan_moves_past_a_page_of_runs_it_must_keep(store: Store) -> None:
    # five jobs whose only run is old (kept), then old runs of a busy job (deleted)
    store.runs.insert_many([_run(f"run_last_{n}", 90 - n, job_id=f"job_{n}") for n in range(5)])
    store.runs.insert_many([_run(f"run_busy_{n}", 50 - n, job_id="job_busy") for n in range(6)])
    store.runs.insert_one(_run("run_busy_new", 1, job_id="job_busy"))
    deleted, resume_at = delete_old_runs(store, NOW - 30 * DAY_MS, 5)
    assert deleted == 0 and resume_at > 0
    total = 0
    while resume_at:
        deleted, resume_at = delete_old_runs(store, NOW - 30 * DAY_MS, 5, resume_at)
        total += deleted
    assert total == 6
    assert store.runs.count_documents({"job_id": "job_busy"}) == 1


def test_spool_dirs_of_ended_or_deleted_runs_are_removed(store: Store, tmp_path: Path) -> None:
    store.runs.insert_many(
        [_run("run_done", 1), _run("run_busy", 1, state="running"), _run("run_young", 1)]
    )
    tmp = tmp_path / "tmp"
    for name in ("run_done", "run_busy", "run_gone", "run_young", "not_a_run"):
        (tmp / name).mkdir(parents=True)
        (tmp / name / "spool-1").write_text("x")
        if name != "run_young":
            old = (tmp / name).stat().st_mtime - 3600
            os.utime(tmp / name, (old, old))
    policy = RetentionPolicy(event_days=0, run_days=0, data_dir=tmp_path)
    report = clean_up(store, policy, now=NOW)
    assert report.spool_dirs == 2
    assert sorted(p.name for p in tmp.iterdir()) == ["not_a_run", "run_busy", "run_young"]


def test_zero_days_keeps_everything(store: Store) -> None:
    store.projects.insert_one({"_id": "prj_1"})
    store.events.insert_one(_event(1, "prj_1", 400))
    store.runs.insert_many([_run("run_1", 400), _run("run_2", 300)])
    report = clean_up(store, RetentionPolicy(event_days=0, run_days=0), now=NOW)
    assert (report.events, report.runs) == (0, 0)
    assert store.events.count_documents({}) == 1 and store.runs.count_documents({}) == 2


def _sending(key: str, sent_hours_ago: float, **fields: Any) -> dict[str, Any]:
    return {
        "_id": f"con_shop:{key}",
        "project_id": "prj_1",
        "connection_id": "con_shop",
        "key": key,
        "state": "sending",
        "ticket": "T-1",
        "sent_at": NOW - int(sent_hours_ago * HOUR_MS),
        "attempts": 0,
        **fields,
    }


def test_a_change_sending_past_the_expiry_fails_with_a_clear_error_and_is_retried_later(
    store: Store,
) -> None:
    store.connections.insert_one({"_id": "con_shop", "project_id": "prj_1", "role": "channel"})
    store.changes.insert_many([_sending("sku1", 7), _sending("sku2", 1)])
    assert expire_sending_changes(store, 6 * HOUR_MS, now=NOW) == 1
    failed = store.changes.find_one({"_id": "con_shop:sku1"})
    assert failed is not None and failed["state"] == "failed"
    assert failed["last_error"]["code"] == NO_RESULT
    assert "no result from the channel within 6 h" in failed["last_error"]["message"]
    assert failed["next_attempt_at"] > NOW
    assert store.changes.find_one({"_id": "con_shop:sku2"})["state"] == "sending"
    issue = store.issues.find_one({"_id": "con_shop:sku1"})
    assert issue is not None and issue["code"] == NO_RESULT and not issue["needs_person"]


def test_a_change_that_never_gets_a_result_stops_after_max_identical_failures(
    store: Store,
) -> None:
    store.connections.insert_one(
        {"_id": "con_shop", "project_id": "prj_1", "max_identical_failures": 2}
    )
    store.changes.insert_one(_sending("sku1", 7))
    expire_sending_changes(store, 6 * HOUR_MS, now=NOW)
    # it is sent again, and again nothing comes back
    store.changes.update_one(
        {"_id": "con_shop:sku1"}, {"$set": {"state": "sending", "sent_at": NOW}}
    )
    later = NOW + 7 * HOUR_MS
    assert expire_sending_changes(store, 6 * HOUR_MS, now=later) == 1
    stopped = store.changes.find_one({"_id": "con_shop:sku1"})
    assert stopped is not None and stopped["state"] == "stopped"
    assert stopped["identical_failures"] == 2 and stopped["next_attempt_at"] is None
    issue = store.issues.find_one({"_id": "con_shop:sku1"})
    assert issue is not None and issue["needs_person"]


def test_retention_and_expiry_work_over_the_socket_on_nx_27017(nx_store: Store) -> None:
    store = nx_store
    store.projects.insert_one({"_id": "prj_1"})
    store.events.insert_many(
        [_event(n, "prj_1", 8 + n) for n in range(3)] + [_event(9, "prj_1", 1)]
    )
    store.runs.insert_many(
        [_run("run_old", 40), _run("run_kept_by_issue", 39), _run("run_last", 35)]
    )
    store.issues.insert_one({"_id": "con_shop:sku2", "run_id": "run_kept_by_issue"})
    store.connections.insert_one({"_id": "con_shop", "project_id": "prj_1"})
    store.changes.insert_many([_sending("sku1", 7), _sending("sku2", 1)])
    report = clean_up(store, RetentionPolicy(event_days=7, run_days=30), now=NOW)
    assert (report.events, report.runs) == (3, 1)
    assert sorted(doc["_id"] for doc in store.runs.find()) == ["run_kept_by_issue", "run_last"]
    assert expire_sending_changes(store, 6 * HOUR_MS, now=NOW) == 1
    states = {doc["key"]: doc["state"] for doc in store.changes.find()}
    assert states == {"sku1": "failed", "sku2": "sending"}


def test_a_late_result_does_not_overwrite_a_change_the_ticker_expired_meanwhile(
    store: Store,
) -> None:
    from core.pipeline.changes import ChannelChanges

    store.connections.insert_one({"_id": "con_shop", "project_id": "prj_1", "role": "channel"})
    store.changes.insert_one({**_sending("sku1", 7), "hash": "h2", "updated_at": NOW - 1})
    changes = ChannelChanges(store, {"_id": "prj_1", "rules": []}, {"_id": "con_shop"})
    read_before_expiry = changes.sending(["sku1"])["sku1"]
    assert expire_sending_changes(store, 6 * HOUR_MS, now=NOW) == 1

    changes.acknowledge([(read_before_expiry, True, None, None)])

    kept = store.changes.find_one({"_id": "con_shop:sku1"})
    assert kept is not None and kept["state"] == "failed"  # sent again after its backoff
    assert kept["last_error"]["code"] == NO_RESULT and kept.get("acked_hash") != "h2"
    fresh = changes.sending(["sku1"])
    assert fresh == {}  # nothing is left sending under the old ticket
