"""Firing due slots in bulk (core/slots.py) keeps the one-fire-per-slot guarantee of firing
them one by one, on mongomock and over the socket on nx-27017."""

from __future__ import annotations

from typing import Any

import pytest

from core.jobs import create_job
from core.models import RunState, Trigger
from core.projects import create_project
from core.runs import begin_run, claim_run, finish_run, start_run
from core.slots import SlotFire, fire_slot, fire_slots, mark_sent, unsent_runs
from core.store import Store
from core.tenants import create_tenant

DAY_MS = 86_400_000


@pytest.fixture(params=["mongomock", "nx-27017"])
def any_store(request: pytest.FixtureRequest) -> Store:
    name = "store" if request.param == "mongomock" else "nx_store"
    store: Store = request.getfixturevalue(name)
    return store


def _daily_jobs(store: Store, count: int) -> list[dict[str, Any]]:
    tenant, _ = create_tenant(store, "acme", plan="unlimited")
    project = create_project(store, tenant, {"name": "Shop", "timezone": "Europe/Berlin"})
    schedule = {"mode": "daily", "times": ["06:00"]}
    return [
        create_job(store, tenant, project, {"kind": "sync", "schedule": schedule, "name": f"j{i}"})
        for i in range(count)
    ]


def _schedule_runs(store: Store, job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(store.runs.find({"job_id": job["_id"], "trigger": Trigger.SCHEDULE.value}))


def test_a_bulk_fire_racing_another_ticker_fires_each_slot_once(any_store: Store) -> None:
    store = any_store
    jobs = _daily_jobs(store, 6)  # as this ticker read them, all idle and due
    now = jobs[0]["next_fire_at"]
    # Meanwhile another ticker fired jobs 0 and 1, and someone queued a manual run of job 2.
    for job in jobs[:2]:
        assert fire_slot(
            store, job, Trigger.SCHEDULE, following=job["next_fire_at"] + DAY_MS, now=now
        )
    manual = claim_run(store, jobs[2], Trigger.MANUAL)
    assert manual is not None

    fires = [SlotFire(job, job["next_fire_at"] + DAY_MS) for job in jobs]
    fired = fire_slots(store, fires, Trigger.SCHEDULE, now=now)

    assert sorted(run["job_id"] for run in fired) == sorted(j["_id"] for j in jobs[3:])
    for job in jobs:
        after = store.jobs.find_one({"_id": job["_id"]}) or {}
        assert after["next_fire_at"] == job["next_fire_at"] + DAY_MS
        runs = _schedule_runs(store, job)
        if job is jobs[2]:
            assert runs == []  # the fire coalesced into the manual run
            assert after["coalesced_fires"] == 1
            assert (store.runs.find_one({"_id": manual["_id"]}) or {})["coalesced_fires"] == 1
            continue
        assert len(runs) == 1, f"slot of {job['name']} fired {len(runs)} times"
        assert runs[0]["slot"] == job["next_fire_at"]
        assert after["pending_run_id"] == runs[0]["_id"]
    # no run is left behind by the claims that lost
    assert store.runs.count_documents({}) == 6


def test_a_bulk_fire_of_a_paused_projects_jobs_only_moves_their_slots(any_store: Store) -> None:
    store = any_store
    jobs = _daily_jobs(store, 2)
    now = jobs[0]["next_fire_at"]
    fires = [SlotFire(job, job["next_fire_at"] + DAY_MS, queue=False) for job in jobs]
    assert fire_slots(store, fires, Trigger.SCHEDULE, now=now) == []
    assert store.runs.count_documents({}) == 0
    for job in jobs:
        after = store.jobs.find_one({"_id": job["_id"]}) or {}
        assert after["next_fire_at"] == job["next_fire_at"] + DAY_MS


def test_a_run_started_moves_from_pending_to_running_and_its_end_frees_the_job(
    any_store: Store,
) -> None:
    store = any_store
    (job,) = _daily_jobs(store, 1)
    run = claim_run(store, job, Trigger.MANUAL)
    assert run is not None
    started = begin_run(store, run["_id"], worker="w:1")
    assert started is not None and started.job is not None
    assert started.job["pending_run_id"] is None
    assert started.job["running_run_id"] == run["_id"]
    assert not finish_run(store, run["_id"], RunState.SUCCEEDED, started=started.run)
    ended = store.runs.find_one({"_id": run["_id"]}) or {}
    assert [t["state"] for t in ended["transitions"]] == ["queued", "running", "succeeded"]
    freed = store.jobs.find_one({"_id": job["_id"]}) or {}
    assert freed["pending_run_id"] is None and freed["running_run_id"] is None


def test_the_end_of_a_run_started_again_meanwhile_keeps_the_later_attempts_transitions(
    any_store: Store,
) -> None:
    store = any_store
    (job,) = _daily_jobs(store, 1)
    run = claim_run(store, job, Trigger.MANUAL)
    assert run is not None
    first = start_run(store, run["_id"], worker="w:1")
    second = start_run(store, run["_id"], worker="w:2")  # delivered again
    assert first is not None and second is not None
    finish_run(store, run["_id"], RunState.SUCCEEDED, started=first)
    ended = store.runs.find_one({"_id": run["_id"]}) or {}
    assert ended["state"] == "succeeded" and ended["attempts"] == 2
    assert [t["state"] for t in ended["transitions"]] == [
        "queued",
        "running",
        "running",
        "succeeded",
    ]
    freed = store.jobs.find_one({"_id": job["_id"]}) or {}
    assert freed["running_run_id"] is None


def test_runs_fired_in_bulk_and_never_sent_are_found_until_marked_sent(
    any_store: Store,
) -> None:
    store = any_store
    jobs = _daily_jobs(store, 3)
    now = jobs[0]["next_fire_at"]
    fired = fire_slots(
        store,
        [SlotFire(j, j["next_fire_at"] + DAY_MS) for j in jobs[:2]],
        Trigger.SCHEDULE,
        now=now,
    )
    # a ticker stopped (or slow) between storing its batch's runs and claiming the jobs
    orphan = dict(fired[0], _id="run_orphan", job_id=jobs[2]["_id"])
    store.runs.insert_one(orphan)

    assert sorted(r["_id"] for r in unsent_runs(store)) == sorted(r["_id"] for r in fired)
    assert store.runs.find_one({"_id": "run_orphan"}) is not None  # not claimed: not sent
    mark_sent(store, fired[:1])
    assert [r["_id"] for r in unsent_runs(store)] == [fired[1]["_id"]]


def test_a_run_redelivered_after_its_worker_died_inside_its_end_frees_its_job(
    any_store: Store,
) -> None:
    """The worker wrote the run's end and was killed before freeing the job: the message is
    delivered again, and the job must not be left pointing at a finished run (every later
    fire would coalesce into it for ever)."""
    store = any_store
    (job,) = _daily_jobs(store, 1)
    run = claim_run(store, job, Trigger.MANUAL)
    assert run is not None
    assert start_run(store, run["_id"], worker="w:1") is not None
    # finish_run's first write, then SIGKILL
    store.runs.update_one({"_id": run["_id"]}, {"$set": {"state": RunState.SUCCEEDED.value}})

    assert begin_run(store, run["_id"], worker="w:2") is None  # redelivered: nothing to run
    freed = store.jobs.find_one({"_id": job["_id"]}) or {}
    assert freed["running_run_id"] is None and freed["pending_run_id"] is None
    now = job["next_fire_at"]
    assert fire_slot(store, job, Trigger.SCHEDULE, following=now + DAY_MS, now=now) is not None


def test_a_fire_into_a_job_left_pointing_at_a_finished_run_queues_a_run(
    any_store: Store,
) -> None:
    """A job whose running run finished without freeing it (its message gone too) is freed
    by the next fire, which queues a run instead of coalescing into the finished one."""
    store = any_store
    jobs = _daily_jobs(store, 2)
    for job in jobs:
        run = claim_run(store, job, Trigger.MANUAL)
        assert run is not None and start_run(store, run["_id"]) is not None
        store.runs.update_one({"_id": run["_id"]}, {"$set": {"state": RunState.FAILED.value}})
    store.runs.delete_one({"job_id": jobs[1]["_id"]})  # e.g. removed by retention since
    jobs = [store.jobs.find_one({"_id": job["_id"]}) or {} for job in jobs]
    now = jobs[0]["next_fire_at"]

    fired = fire_slots(
        store, [SlotFire(j, j["next_fire_at"] + DAY_MS) for j in jobs], Trigger.SCHEDULE, now=now
    )

    assert sorted(r["job_id"] for r in fired) == sorted(j["_id"] for j in jobs)
    runs = {run["job_id"]: run["_id"] for run in fired}
    for job in jobs:
        after = store.jobs.find_one({"_id": job["_id"]}) or {}
        assert after["pending_run_id"] == runs[job["_id"]] and after["running_run_id"] is None


def test_a_run_fired_one_by_one_and_never_sent_is_found_until_marked_sent(
    any_store: Store,
) -> None:
    """A slot fired on its own (a clean-up slot, or a bulk claim that lost and was retried)
    whose ticker stopped before sending: the next leader sends it at once, rather than only
    after the stale-run period."""
    store = any_store
    (job,) = _daily_jobs(store, 1)
    now = job["next_fire_at"]
    run = fire_slot(store, job, Trigger.SCHEDULE, following=now + DAY_MS, now=now)
    assert run is not None
    assert [r["_id"] for r in unsent_runs(store)] == [run["_id"]]
    mark_sent(store, [run])
    assert unsent_runs(store) == []
