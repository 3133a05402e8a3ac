"""A run's pipeline, in-process: import, database, changes, export, send, tasks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core import runs as runs_service
from core.clock import now_ms
from core.connections import reset_clocks, update_connection
from core.models import RunState, Trigger
from core.pipeline.hashing import bucket_of
from core.pipeline.index import RecordIndex
from core.projects import update_project
from core.store import Store
from plugins.file import export_path
from tests.core.shop import Shop
from tests.httpserver import QuietHandler, serving
from tests.plugins.fakes import RecordingChannel
from worker.actors import execute_run


def test_a_sync_run_imports_the_feed_builds_the_database_and_exports_the_file(
    shop: Shop,
) -> None:
    run = shop.run()
    assert run["state"] == RunState.SUCCEEDED, run["error"]
    assert [s["name"] for s in run["stages"]] == ["import", "database", "export:file"]
    assert shop.stage(run, "import")["inserted"] == 2
    assert [t["state"] for t in run["transitions"]] == ["queued", "running", "succeeded"]
    records = {r["key"]: r for r in shop.store.records.find({})}
    assert set(records) == {"A-1", "A-2"} and len(records["A-1"]["hash"]) == 16
    assert shop.exported() == [
        {"sku": "A-1", "title": "Red shirt", "price": "19.90"},
        {"sku": "A-2", "title": "Blue shirt", "price": "21.50"},
    ]
    assert {c["state"] for c in shop.changes(shop.file).values()} == {"done"}


def test_a_steady_state_run_writes_nothing_when_nothing_changed(shop: Shop) -> None:
    shop.run()
    again = shop.run()
    assert shop.stage(again, "import") == {
        "read": 2,
        "inserted": 0,
        "updated": 0,
        "unchanged": 2,
        "deleted": 0,
    }
    database = shop.stage(again, "database")
    assert database["records_written"] == 0 and database["index_buckets_written"] == 0


def test_changed_records_become_pending_changes_and_are_acknowledged_when_sent(
    shop: Shop,
) -> None:
    api = shop.connect({"connector": "recording", "role": "channel", "order": 1})
    shop.run()
    assert sorted((c.key, c.op) for c in RecordingChannel.received) == [
        ("A-1", "insert"),
        ("A-2", "insert"),
    ]
    RecordingChannel.received.clear()
    shop.write_feed(["A-1,Red shirt,18.00", "A-2,Blue shirt,21.50"])
    run = shop.run()
    assert shop.stage(run, "database")["changes_update"] == 1  # this one; the file's: below
    assert shop.stage(run, "export:file")["changes_update"] == 1
    assert [(c.key, c.op, c.data["price"]) for c in RecordingChannel.received] == [
        ("A-1", "update", "18.00")
    ]
    assert all(c["state"] == "done" for c in shop.changes(api).values())
    RecordingChannel.received.clear()
    shop.run()
    assert RecordingChannel.received == []


def test_read_only_fields_of_a_channel_never_produce_updates_to_it(shop: Shop) -> None:
    shop.connect({"connector": "recording", "role": "channel", "read_only_fields": ["title"]})
    shop.run()
    RecordingChannel.received.clear()
    shop.write_feed(["A-1,Renamed shirt,19.90", "A-2,Blue shirt,21.50"])
    shop.run()
    assert RecordingChannel.received == []


def test_a_record_gone_from_the_feed_is_delisted_or_deleted_as_the_channel_chose(
    shop: Shop,
) -> None:
    delisting = shop.connect({"connector": "recording", "role": "channel", "name": "shop-a"})
    deleting = shop.connect(
        {"connector": "recording", "role": "channel", "name": "shop-b", "real_deletes": True}
    )
    shop.write_feed(["A-1,x,1", "A-2,y,2", "A-3,z,3"])
    shop.run()
    RecordingChannel.received.clear()
    shop.write_feed(["A-1,x,1", "A-2,y,2"])
    shop.run()
    assert sorted(c.op for c in RecordingChannel.received) == ["delete", "delist"]
    assert shop.changes(delisting)["A-3"]["state"] == "done"
    assert shop.changes(deleting)["A-3"]["acked_hash"] is None


def test_a_record_the_channel_refuses_keeps_a_failed_change_and_an_issue_until_it_succeeds(
    shop: Shop,
) -> None:
    api = shop.connect(
        {
            "connector": "recording",
            "role": "channel",
            "settings": {"fail_keys": {"A-2": "Invalid GTIN 123"}},
        }
    )
    run = shop.run()
    assert shop.stage(run, "send:recording") == {
        "sent": 2,
        "acknowledged": 1,
        "failed": 1,
        "stopped": 0,
        "submitted": 0,
    }
    failed = shop.changes(api, "failed")
    assert list(failed) == ["A-2"] and failed["A-2"]["last_error"]["code"] == "E42"
    assert failed["A-2"]["next_attempt_at"] > now_ms() + 30_000  # backs off before retrying
    issue = shop.store.issues.find_one({"connection_id": api["_id"], "key": "A-2"}) or {}
    assert issue["message"] == "Invalid GTIN 123" and issue["count"] == 1
    RecordingChannel.received.clear()
    shop.run()
    assert RecordingChannel.received == []  # not due yet
    update_connection(shop.store, shop.project, api["_id"], {"settings": {"fail_keys": {}}})
    _backoff_passes(shop, api)
    shop.run()
    assert shop.changes(api, "failed") == {}
    assert shop.store.issues.count_documents({"connection_id": api["_id"]}) == 0


def _backoff_passes(shop: Shop, channel: dict[str, Any]) -> None:
    shop.store.changes.update_many(
        {"connection_id": channel["_id"], "state": "failed"}, {"$set": {"next_attempt_at": 0}}
    )


def test_the_same_failure_five_times_stops_the_change_until_a_person_resets_it(
    shop: Shop,
) -> None:
    api = shop.connect(
        {
            "connector": "recording",
            "role": "channel",
            "settings": {"fail_keys": {"A-2": "Invalid GTIN 123"}},
        }
    )
    for _ in range(5):
        shop.run()
        _backoff_passes(shop, api)
    stopped = shop.changes(api, "stopped")
    assert list(stopped) == ["A-2"] and stopped["A-2"]["identical_failures"] == 5
    issue = shop.store.issues.find_one({"connection_id": api["_id"], "key": "A-2"}) or {}
    assert issue["needs_person"] is True and issue["count"] == 5
    RecordingChannel.received.clear()
    shop.run()
    assert RecordingChannel.received == []


def test_a_channel_without_auto_absorb_gets_new_records_only_once_approved(shop: Shop) -> None:
    api = shop.connect({"connector": "recording", "role": "channel", "auto_absorb": False})
    shop.run()
    assert RecordingChannel.received == []
    assert set(shop.changes(api, "unapproved")) == {"A-1", "A-2"}
    shop.store.changes.update_many(
        {"_id": f"{api['_id']}:A-1"}, {"$set": {"state": "pending", "approved": True}}
    )
    shop.run()
    assert [c.key for c in RecordingChannel.received] == ["A-1"]


def test_secondary_sources_are_joined_by_key_and_combined_sources_add_records(
    shop: Shop, tmp_path: Path
) -> None:
    stock = tmp_path / "stock.csv"
    stock.write_text("sku,stock\nA-1,5\nA-2,0\nZZ,9\n")
    extra = tmp_path / "extra.csv"
    extra.write_text("sku,title,colour\nA-1,Other title,red\nB-9,Supplier item,blue\n")
    shop.connect({"connector": "feed", "role": "secondary", "settings": {"url": str(stock)}})
    shop.connect({"connector": "feed", "role": "combined", "settings": {"url": str(extra)}})
    run = shop.run()
    assert run["state"] == RunState.SUCCEEDED, run["error"]
    records = {r["key"]: r["data"] for r in shop.store.records.find({})}
    assert records["A-1"] == {
        "sku": "A-1",
        "title": "Red shirt",
        "price": "19.90",
        "colour": "red",
        "stock": "5",
    }
    assert records["B-9"]["title"] == "Supplier item"
    assert "ZZ" not in records


def test_a_broken_feed_fails_the_run_and_changes_nothing(shop: Shop) -> None:
    api = shop.connect(
        {"connector": "recording", "role": "channel", "settings": {"fail_keys": {"A-1": "down"}}}
    )
    shop.run()
    records = list(shop.store.records.find({}))
    pending = shop.changes(api)
    shop.write_feed(["A-1,Changed,1", "A-1,Twice,2"])
    failed = shop.run()
    assert failed["state"] == RunState.FAILED
    assert "duplicate key 'A-1' at item 2" in failed["error"]["message"]
    assert list(shop.store.records.find({})) == records
    assert shop.changes(api) == pending
    issue = shop.store.issues.find_one({"connection_id": shop.source["_id"]}) or {}
    assert "duplicate key" in issue["message"]
    job = shop.store.jobs.find_one({"_id": shop.job["_id"]}) or {}
    assert job["pending_run_id"] is None and job["running_run_id"] is None


def test_an_empty_feed_holds_the_run_and_deletes_nothing(shop: Shop) -> None:
    shop.run()
    exported = shop.exported()
    shop.write_feed([])
    held = shop.run()
    assert held["state"] == RunState.HELD
    assert "the feed is empty but the project has 2 records" in held["error"]["message"]
    assert shop.store.records.count_documents({}) == 2
    assert shop.exported() == exported


def test_a_feed_that_shrinks_past_the_threshold_holds_the_run(shop: Shop) -> None:
    shop.write_feed([f"K{n},t,1" for n in range(10)])
    shop.run()
    shop.write_feed([f"K{n},t,1" for n in range(4)])
    held = shop.run()
    assert held["state"] == RunState.HELD
    assert "would delete 6 of 10 records (60 %)" in held["error"]["message"]
    assert shop.store.records.count_documents({}) == 10


def test_rules_of_the_project_then_of_the_channel_shape_every_export(shop: Shop) -> None:
    update_project(
        shop.store,
        shop.tenant,
        shop.project["_id"],
        {
            "rules": [
                {
                    "op": "set",
                    "field": "price",
                    "expr": {"add": [{"mul": [{"field": "price"}, 1.2]}, 0.5]},
                    "round": {"ending": ".99"},
                }
            ]
        },
    )
    update_connection(
        shop.store,
        shop.project,
        shop.file["_id"],
        {"rules": [{"op": "filter", "where": {"field": "title", "contains": "Red"}}]},
    )
    shop.run()
    assert shop.exported() == [{"sku": "A-1", "title": "Red shirt", "price": "24.99"}]


def test_reset_clocks_recomputes_every_channels_changes(shop: Shop) -> None:
    api = shop.connect({"connector": "recording", "role": "channel"})
    shop.run()
    shop.store.changes.delete_many({"connection_id": api["_id"]})  # state lost somehow
    RecordingChannel.received.clear()
    shop.run()
    assert RecordingChannel.received == []  # nothing changed in the feed: nothing looked at
    reset_clocks(shop.store, shop.project, shop.source["_id"])
    shop.run()
    assert sorted(c.key for c in RecordingChannel.received) == ["A-1", "A-2"]


def test_a_commit_cut_short_is_completed_by_the_next_run(shop: Shop) -> None:
    shop.run()
    shop.store.projects.update_one(
        {"_id": shop.project["_id"]}, {"$set": {"commit_run_id": "run_crashed"}}
    )
    shop.store.records.delete_one({"_id": f"{shop.project['_id']}:A-2"})  # half-written
    run = shop.run()
    assert run["state"] == RunState.SUCCEEDED, run["error"]
    assert shop.store.records.count_documents({}) == 2
    project = shop.store.projects.find_one({"_id": shop.project["_id"]}) or {}
    assert project["commit_run_id"] is None


def test_a_run_stopped_by_the_time_limit_ends_failed_and_frees_its_job(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dramatiq.middleware import TimeLimitExceeded

    def too_slow(self: Any) -> None:
        raise TimeLimitExceeded()

    monkeypatch.setattr("core.pipeline.execution.RunExecution.execute", too_slow)
    failed = shop.run()
    assert failed["state"] == RunState.FAILED and "time limit" in failed["error"]["message"]
    job = shop.store.jobs.find_one({"_id": shop.job["_id"]}) or {}
    assert job["running_run_id"] is None


# --- two-stage tasks ---------------------------------------------------------------------


@pytest.fixture
def images() -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"etag": '"v1"', "gets": 0}

    class Handler(QuietHandler):
        def _head(self) -> None:
            self.send_response(200)
            self.send_header("ETag", state["etag"])
            self.send_header("Content-Length", "5")
            self.end_headers()

        def do_HEAD(self) -> None:  # noqa: N802
            self._head()

        def do_GET(self) -> None:  # noqa: N802
            state["gets"] += 1
            self._head()
            self.wfile.write(b"image")

    with serving(Handler) as url:
        state["url"] = url
        yield state


def test_a_check_task_queues_its_follow_up_only_when_there_is_work(
    shop: Shop, images: dict[str, Any], broker: Any
) -> None:
    shop.write_feed(
        [f"A-1,x,1,{images['url']}/a.jpg", f"A-2,y,2,{images['url']}/b.jpg"],
        header="sku,title,price,image_link",
    )
    shop.run()
    connection = shop.connect({"connector": "images", "role": "channel"})
    check = shop.add_job(
        {"kind": "task", "connection_id": connection["_id"], "task": "images.check"}
    )
    follow_up = shop.store.jobs.find_one({"parent_job_id": check["_id"]}) or {}
    assert follow_up["task"] == "images.download"
    assert follow_up["schedule"] == {"mode": "as_needed"}

    first = shop.run(check)
    assert shop.stage(first, "task:images.check")["count"] == 2
    queued = list(shop.store.runs.find({"job_id": follow_up["_id"]}))
    assert [(r["trigger"], r["state"]) for r in queued] == [("parent", "queued")]
    assert broker.queues["runs"].qsize() == 1
    execute_run.fn(queued[0]["_id"])
    done = shop.store.runs.find_one({"_id": queued[0]["_id"]}) or {}
    assert done["state"] == RunState.SUCCEEDED and images["gets"] == 2

    second = shop.run(check)
    assert shop.stage(second, "task:images.check")["count"] == 0
    assert shop.store.runs.count_documents({"job_id": follow_up["_id"]}) == 1

    images["etag"] = '"v2"'
    third = shop.run(check)
    assert shop.stage(third, "task:images.check")["count"] == 2


# --- alerts ------------------------------------------------------------------------------


@pytest.fixture
def webhook() -> Iterator[dict[str, Any]]:
    import json

    state: dict[str, Any] = {"received": []}

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state["received"].append(json.loads(body))
            self.send_response(204)
            self.end_headers()

    with serving(Handler) as url:
        state["url"] = f"{url}/hook"
        yield state


def test_alerts_tell_the_merchant_when_a_source_fails_or_the_catalog_shrinks(
    shop: Shop, webhook: dict[str, Any]
) -> None:
    notify = [{"webhook": webhook["url"]}]
    update_project(
        shop.store,
        shop.tenant,
        shop.project["_id"],
        {
            "alerts": [
                {"when": "source_failed", "notify": notify},
                {"when": "count_drop_pct", "threshold": 20, "notify": notify},
            ],
            "shrink_threshold_pct": 80,
        },
    )
    shop.write_feed([f"K{n},t,1" for n in range(10)])
    quiet = shop.run()
    assert shop.stage(quiet, "alerts") == {"raised": 0, "delivered": 0, "failed": 0}
    shop.write_feed([f"K{n},t,1" for n in range(5)])
    dropped = shop.run()
    assert dropped["state"] == RunState.SUCCEEDED
    assert shop.stage(dropped, "alerts") == {"raised": 1, "delivered": 1, "failed": 0}
    shop.feed.write_text("id,title\n1,x\n")
    failed = shop.run()
    assert failed["state"] == RunState.FAILED
    assert [a["alert"] for a in webhook["received"]] == ["count_drop_pct", "source_failed"]
    assert "no key column 'sku'" in webhook["received"][1]["message"]


def test_a_paused_channel_gets_what_changed_meanwhile_once_resumed(shop: Shop) -> None:
    api = shop.connect({"connector": "recording", "role": "channel"})
    shop.run()
    update_connection(shop.store, shop.project, api["_id"], {"paused": True})
    RecordingChannel.received.clear()
    shop.write_feed(["A-1,Red shirt,5.00", "A-2,Blue shirt,21.50"])
    shop.run()
    assert RecordingChannel.received == []
    update_connection(shop.store, shop.project, api["_id"], {"paused": False})
    shop.run()
    assert [(c.key, c.op) for c in RecordingChannel.received] == [("A-1", "update")]


def test_a_channel_that_answers_later_is_asked_for_its_results_without_holding_a_worker(
    shop: Shop, broker: Any
) -> None:
    from tests.plugins.fakes import DeferredChannel

    channel = shop.connect({"connector": "deferred", "role": "channel"})
    run = shop.run()
    assert shop.stage(run, "send:deferred")["submitted"] == 2
    sending = shop.changes(channel, "sending")
    assert {doc["ticket"] for doc in sending.values()} == {"ticket-1"}
    results = list(shop.store.runs.find({"trigger": "parent"}))
    assert len(results) == 1 and broker.queues["runs.DQ"].qsize() == 1  # asked later

    execute_run.fn(results[0]["_id"])  # the platform is still processing
    assert (
        shop.stage(
            shop.store.runs.find_one({"_id": results[0]["_id"]}) or {}, "task:deferred.results"
        )["count"]
        == 1
    )
    assert len(shop.changes(channel, "sending")) == 2
    again = [r for r in shop.store.runs.find({"trigger": "parent"}) if r["state"] == "queued"]
    assert len(again) == 1

    DeferredChannel.ready = True
    execute_run.fn(again[0]["_id"])
    assert set(shop.changes(channel, "done")) == {"A-1"}
    failed = shop.changes(channel, "failed")
    assert failed["A-2"]["last_error"] == {"code": "8541", "message": "conflicts with catalog"}
    issue = shop.store.issues.find_one({"connection_id": channel["_id"]}) or {}
    assert issue["key"] == "A-2" and issue["code"] == "8541"


def test_a_clean_up_run_retries_what_is_still_failing_whatever_its_backoff(shop: Shop) -> None:
    shop.connect(
        {"connector": "recording", "role": "channel", "settings": {"fail_keys": {"A-2": "busy"}}}
    )
    shop.run()
    RecordingChannel.received.clear()
    shop.run()
    assert RecordingChannel.received == []  # backing off
    shop.run(trigger=Trigger.CLEANUP)
    assert [c.key for c in RecordingChannel.received] == ["A-2"]


def test_a_file_channel_with_nothing_new_is_not_rewritten_unless_its_file_or_settings_changed(
    shop: Shop,
) -> None:
    shop.run()
    quiet = shop.run()
    assert shop.stage(quiet, "export:file") == {"written": 0, "unchanged": 1}
    path = export_path(shop.settings.data_dir, shop.project["_id"], shop.file["_id"])
    path.unlink()
    assert shop.stage(shop.run(), "export:file")["written"] == 2
    update_connection(
        shop.store, shop.project, shop.file["_id"], {"settings": {"columns": ["sku", "price"]}}
    )
    assert shop.stage(shop.run(), "export:file")["written"] == 2
    assert shop.exported()[0] == {"sku": "A-1", "price": "19.90"}


def test_an_update_never_carries_the_channels_read_only_fields(shop: Shop) -> None:
    shop.connect({"connector": "recording", "role": "channel", "read_only_fields": ["title"]})
    shop.run()
    RecordingChannel.received.clear()
    shop.write_feed(["A-1,Renamed shirt,18.00", "A-2,Blue shirt,21.50"])
    shop.run()
    assert [(c.key, c.op, c.data) for c in RecordingChannel.received] == [
        ("A-1", "update", {"sku": "A-1", "price": "18.00"})
    ]


def test_a_channel_whose_connector_was_removed_does_not_stop_the_project(shop: Shop) -> None:
    gone = shop.connect({"connector": "recording", "role": "channel"})
    shop.store.connections.update_one({"_id": gone["_id"]}, {"$set": {"connector": "uninstalled"}})
    run = shop.run()
    assert run["state"] == RunState.SUCCEEDED, run["error"]
    assert shop.exported()[0]["sku"] == "A-1"
    issue = shop.store.issues.find_one({"connection_id": gone["_id"]}) or {}
    assert issue["code"] == "connector_missing"


def test_a_run_left_running_past_the_time_limit_is_failed_and_frees_its_job(
    shop: Shop, broker: Any
) -> None:
    from cron.ticker import Ticker
    from tests.conftest import redis_client

    run = runs_service.claim_run(shop.store, shop.job, Trigger.MANUAL) or {}
    runs_service.start_run(shop.store, run["_id"])
    shop.store.runs.update_one({"_id": run["_id"]}, {"$set": {"started_at": 0}})
    Ticker(
        store=shop.store, client=redis_client(11), broker=broker, run_time_limit_s=3600
    ).resend_stale_runs()
    failed = shop.store.runs.find_one({"_id": run["_id"]}) or {}
    assert failed["state"] == RunState.FAILED and failed["error"]["type"] == "Abandoned"
    assert (shop.store.jobs.find_one({"_id": shop.job["_id"]}) or {})["running_run_id"] is None


def test_integers_the_database_cannot_hold_are_kept_as_their_digits() -> None:
    from core.pipeline.diff import storable

    record = {"sku": "J-1", "gtin": 2**64 + 5, "sizes": [1, 2**70], "ok": True, "n": -(2**63)}
    assert storable(record) == {
        "sku": "J-1",
        "gtin": str(2**64 + 5),
        "sizes": [1, str(2**70)],
        "ok": True,
        "n": -(2**63),
    }


def test_an_index_an_older_version_wrote_as_pairs_is_read_and_rewritten_packed(
    store: Store,
) -> None:
    bucket = bucket_of("A-1")
    store.record_index.insert_one(
        {
            "_id": f"p:{bucket:03d}",
            "project_id": "p",
            "bucket": bucket,
            "entries": [["A-1", "00000000000000ff"]],
        }
    )
    index = RecordIndex(store, "p")
    assert index.load() == {"A-1": 255}
    index.apply([("A-2", "0000000000000001")], ["A-1"])
    index.apply([("A-1", "ffffffffffffffff")], [])
    assert index.load() == {"A-1": 2**64 - 1, "A-2": 1}
    assert all("entries" not in doc for doc in store.record_index.find())


@pytest.mark.parametrize("store_kind", ["store", "nx_store"])
def test_a_send_delivers_pending_and_due_failed_changes_together_in_key_order(
    store_kind: str, request: pytest.FixtureRequest
) -> None:
    from core.pipeline.changes import ChannelChanges

    db: Store = request.getfixturevalue(store_kind)
    channel = {"_id": "con_c", "rules": []}
    states = {"a": "pending", "b": "failed", "c": "done", "d": "pending", "e": "unapproved"}
    states |= {"f": "failed", "g": "stopped", "h": "sending"}
    db.changes.insert_many(
        {
            "_id": f"con_c:{key}",
            "project_id": "prj_p",
            "connection_id": "con_c",
            "key": key,
            "state": state,
            "next_attempt_at": now_ms() + 3_600_000 if key == "f" else None,
        }
        for key, state in states.items()
    )
    db.changes.insert_one(
        {"_id": "con_o:a", "connection_id": "con_o", "key": "a", "state": "pending"}
    )
    changes = ChannelChanges(db, {"_id": "prj_p", "rules": []}, channel)

    assert [d["key"] for d in changes.due_changes(now_ms())] == ["a", "b", "d"]
    assert [d["key"] for d in changes.due_changes(now_ms(), every_failed=True)] == [
        "a",
        "b",
        "d",
        "f",
    ]
    assert changes.has_any(["unapproved"]) and not ChannelChanges(
        db, {"_id": "prj_p"}, {"_id": "con_x"}
    ).has_any(["pending", "failed"])
    assert changes.submissions() == {"": ["h"]}


def test_the_export_publishes_from_the_index_the_import_just_committed(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.pipeline.catalog import ChannelCatalog

    seen: list[tuple[dict[str, int] | None, dict[str, int]]] = []
    original = ChannelCatalog.hashes

    def hashes(catalog: ChannelCatalog) -> dict[str, int] | None:
        given = original(catalog)
        seen.append((None if given is None else dict(given), RecordIndex(*_index_of(shop)).load()))
        return given

    monkeypatch.setattr(ChannelCatalog, "hashes", hashes)
    shop.write_feed([f"K-{n:02d},Item {n},{n}.00" for n in range(30)])
    assert shop.run()["state"] == RunState.SUCCEEDED
    # one changed, one gone, one new, the rest as they were
    rows = [f"K-{n:02d},Item {n},{n}.00" for n in range(30) if n != 7]
    rows[3] = "K-03,Item 3,3.50"
    shop.write_feed([*rows, "K-99,New,9.00"])
    run = shop.run()
    assert run["state"] == RunState.SUCCEEDED, run["error"]
    assert shop.stage(run, "import")["updated"] == 1
    assert all(given == loaded for given, loaded in seen) and len(seen[-1][0] or {}) == 30
    exported = {row["sku"]: row["price"] for row in shop.exported()}
    assert exported["K-03"] == "3.50" and "K-07" not in exported and exported["K-99"] == "9.00"
    assert len(exported) == 30


def _index_of(shop: Shop) -> tuple[Store, str]:
    return shop.store, shop.project["_id"]


def test_a_file_channel_publishing_in_the_run_gets_its_changes_done_in_one_write(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[tuple[str, str]] = []
    original = shop.store.changes.bulk_write

    def bulk_write(requests: list[Any], **kwargs: Any) -> Any:
        writes.extend((type(r).__name__, r._doc["state"]) for r in requests)
        return original(requests, **kwargs)

    monkeypatch.setattr(shop.store.changes, "bulk_write", bulk_write)
    shop.run()
    assert writes == [("ReplaceOne", "done")] * 2  # the first publication too
    writes.clear()
    before = shop.changes(shop.file)["A-1"]
    shop.write_feed(["A-1,Red shirt,18.00", "A-2,Blue shirt,21.50"])
    run = shop.run()
    assert run["state"] == RunState.SUCCEEDED, run["error"]
    assert shop.exported()[0]["price"] == "18.00"
    change = shop.changes(shop.file)["A-1"]
    assert (change["op"], change["state"]) == ("update", "done")
    assert change["hash"] == change["acked_hash"] != before["acked_hash"]
    assert writes == [("ReplaceOne", "done")]  # not written pending, then acknowledged
    assert shop.stage(run, "export:file")["acknowledged"] == 1
    channel = shop.store.connections.find_one({"_id": shop.file["_id"]}) or {}
    assert channel["unsettled_run_id"] is None


def test_a_file_channel_whose_publication_fails_keeps_its_changes_pending(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plugins.file import FileConnector

    shop.run()
    shop.write_feed(["A-1,Red shirt,18.00", "A-2,Blue shirt,21.50"])
    publish = FileConnector.publish

    def broken(self: FileConnector, catalog: Any) -> dict[str, int]:
        raise OSError("No space left on device")

    monkeypatch.setattr(FileConnector, "publish", broken)
    run = shop.run()
    assert run["state"] == RunState.FAILED and "No space left" in run["error"]["message"]
    pending = shop.changes(shop.file, "pending")
    assert list(pending) == ["A-1"] and pending["A-1"]["op"] == "update"
    assert shop.exported()[0]["price"] == "19.90"
    monkeypatch.setattr(FileConnector, "publish", publish)
    assert shop.run()["state"] == RunState.SUCCEEDED
    assert shop.exported()[0]["price"] == "18.00"
    assert {c["state"] for c in shop.changes(shop.file).values()} == {"done"}


def test_a_run_cut_short_after_publishing_before_writing_its_changes_loses_nothing(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.pipeline.changes import ChannelChanges

    shop.run()
    shop.write_feed(["A-1,Red shirt,18.00", "A-2,Blue shirt,21.50"])
    update = ChannelChanges.update

    def cut_short(self: ChannelChanges, items: Any, **kwargs: Any) -> dict[str, int]:
        if kwargs.get("delivered"):
            raise ConnectionError("the database went away")
        return update(self, items, **kwargs)

    monkeypatch.setattr(ChannelChanges, "update", cut_short)
    assert shop.run()["state"] == RunState.FAILED
    assert shop.exported()[0]["price"] == "18.00"  # the file was in place
    monkeypatch.setattr(ChannelChanges, "update", update)
    # Back to the old price: the channel must get it, though the change documents still
    # hold the old price as the one the channel acknowledged.
    shop.write_feed(["A-1,Red shirt,19.90", "A-2,Blue shirt,21.50"])
    run = shop.run()
    assert run["state"] == RunState.SUCCEEDED, run["error"]
    assert shop.exported()[0]["price"] == "19.90"
    changes = shop.changes(shop.file)
    assert all(c["state"] == "done" and c["acked_hash"] == c["hash"] for c in changes.values())


def test_a_file_channel_holding_records_for_approval_gets_its_changes_as_before(
    shop: Shop,
) -> None:
    update_connection(shop.store, shop.project, shop.file["_id"], {"auto_absorb": False})
    shop.run()
    assert set(shop.changes(shop.file, "unapproved")) == {"A-1", "A-2"}
    assert shop.exported() == []
    shop.store.changes.update_many(
        {"_id": f"{shop.file['_id']}:A-1"}, {"$set": {"state": "pending", "approved": True}}
    )
    shop.write_feed(["A-1,Red shirt,18.00", "A-2,Blue shirt,21.50"])
    run = shop.run()
    assert run["state"] == RunState.SUCCEEDED, run["error"]
    assert [row["sku"] for row in shop.exported()] == ["A-1"]
    assert set(shop.changes(shop.file, "unapproved")) == {"A-2"}


@pytest.mark.parametrize("first_run", [True, False], ids=["recomputed", "updated"])
def test_a_run_writing_its_deferred_changes_keeps_a_later_runs_note(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, first_run: bool
) -> None:
    """A run that lost its project (a later run committed and deferred its own changes
    meanwhile) must not clear the later run's note: the note is all that makes a run after
    a crash recompute the changes the later run never wrote."""
    from core.pipeline.changes import ChannelChanges

    if not first_run:
        shop.run()
        shop.write_feed(["A-1,Red shirt,18.00", "A-2,Blue shirt,21.50"])
    update = ChannelChanges.update

    def later_run_defers(self: ChannelChanges, items: Any, **kwargs: Any) -> dict[str, int]:
        if kwargs.get("delivered"):
            shop.store.connections.update_one(
                {"_id": shop.file["_id"]}, {"$set": {"unsettled_run_id": "a-later-run"}}
            )
        return update(self, items, **kwargs)

    monkeypatch.setattr(ChannelChanges, "update", later_run_defers)
    assert shop.run()["state"] == RunState.SUCCEEDED
    channel = shop.store.connections.find_one({"_id": shop.file["_id"]}) or {}
    assert channel["unsettled_run_id"] == "a-later-run"
