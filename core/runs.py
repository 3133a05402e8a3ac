"""Runs: one execution of a job, and every state transition it goes through.

A job holds at most one pending run (`queued` or `waiting`) in `pending_run_id` and at most one
running run in `running_run_id`; both are claimed with compare-and-set on the job document, so
fires never pile up whichever process makes them.
"""

from __future__ import annotations

from typing import Any

from core import batches
from core.clock import now_ms
from core.errors import Conflict, NotFound
from core.ids import new_id
from core.models import FINISHED_STATES, PENDING_STATES, RunState, Trigger
from core.store import Store


def get_run(store: Store, tenant_id: str, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] | None = store.runs.find_one({"_id": run_id})
    if run is None or run["tenant_id"] != tenant_id:
        raise NotFound(f"run {run_id!r} not found")
    return run


def _new_run(job: dict[str, Any], trigger: Trigger, now: int) -> dict[str, Any]:
    return {
        "_id": new_id("run"),
        "tenant_id": job["tenant_id"],
        "project_id": job["project_id"],
        "job_id": job["_id"],
        "job_kind": job["kind"],
        "trigger": trigger.value,
        "state": RunState.QUEUED.value,
        "queued_at": now,
        "started_at": None,
        "finished_at": None,
        "transitions": [{"state": RunState.QUEUED.value, "at": now}],
        "stages": [],
        "progress": None,
        "attempts": 0,
        "coalesced_fires": 0,
        "error": None,
        "resent_at": None,
    }


def claim_run(
    store: Store,
    job: dict[str, Any],
    trigger: Trigger,
    *,
    now: int | None = None,
    while_running: bool = False,
    event_count: int | None = None,
) -> dict[str, Any] | None:
    """Create a queued run of `job`, or return None when the fire coalesces.

    A scheduled fire coalesces while the job has a run queued, waiting or running
    (`while_running` lets one wait behind the running one: a job re-queuing itself); a manual
    run is refused (Conflict) only while one is already queued or waiting. An `event` run
    records how many events it covers in `event_count`.
    """
    now = now or now_ms()
    run = _new_run(job, trigger, now)
    if event_count is not None:
        run["event_count"] = event_count
    guard: dict[str, Any] = {"_id": job["_id"], "pending_run_id": None}
    if trigger != Trigger.MANUAL and not while_running:
        guard["running_run_id"] = None
    store.runs.insert_one(run)
    claimed = store.jobs.update_one(guard, {"$set": {"pending_run_id": run["_id"]}})
    if claimed.modified_count == 1:
        return run
    store.runs.delete_one({"_id": run["_id"]})
    current = store.jobs.find_one({"_id": job["_id"]}) or {}
    active = current.get("pending_run_id") or current.get("running_run_id")
    if trigger == Trigger.MANUAL:
        raise Conflict(
            f"job {job['_id']!r} already has run {active!r} waiting to start; "
            "follow that run instead of queuing another",
            errors={"run_id": [str(active)]},
        )
    store.jobs.update_one(
        {"_id": job["_id"]}, {"$inc": {"coalesced_fires": 1}, "$set": {"last_coalesced_at": now}}
    )
    if active:
        store.runs.update_one({"_id": active}, {"$inc": {"coalesced_fires": 1}})
    return None


def abandon_run(store: Store, run: dict[str, Any]) -> None:
    """Undo `claim_run` when the run could not be sent: the job is free to fire again (and
    events kept for after that run are due again)."""
    store.jobs.update_one(
        {"_id": run["job_id"], "pending_run_id": run["_id"]}, {"$set": {"pending_run_id": None}}
    )
    store.runs.delete_one({"_id": run["_id"], "state": RunState.QUEUED.value})
    batches.due_after_run(store, run["job_id"])


def stale_pending_runs(
    store: Store, older_than_ms: int, *, now: int | None = None
) -> list[dict[str, Any]]:
    """Runs queued or waiting for longer than `older_than_ms` and not re-sent since: their
    message may have been lost (a crash between claim and send, a broker that lost data).
    Each is stamped `resent_at`, so it is returned at most once per period."""
    now = now or now_ms()
    cutoff = now - older_than_ms
    stale = []
    query = {"state": {"$in": [s.value for s in PENDING_STATES]}, "queued_at": {"$lt": cutoff}}
    for run in store.runs.find(query):
        if (run.get("resent_at") or 0) >= cutoff:
            continue
        stamped = store.runs.update_one(
            {"_id": run["_id"], "resent_at": run.get("resent_at")}, {"$set": {"resent_at": now}}
        )
        if stamped.modified_count == 1:
            stale.append(run)
    return stale


def abandoned_running_runs(store: Store, older_than_ms: int) -> list[dict[str, Any]]:
    """Runs `running` for longer than any run may take: their message is gone (e.g. dropped
    after its retries, while the database was down), so nothing will finish them."""
    cutoff = now_ms() - older_than_ms
    found = store.runs.find({"state": RunState.RUNNING.value, "started_at": {"$lt": cutoff}})
    return list(found)


def _transition(run: dict[str, Any], state: RunState, now: int) -> list[dict[str, Any]]:
    return [*run.get("transitions", []), {"state": state.value, "at": now}]


def mark_waiting(store: Store, run_id: str) -> None:
    """The run's project is busy: it waits for the project's lease (no retry is spent)."""
    run = store.runs.find_one({"_id": run_id})
    if run is None or run["state"] not in (RunState.QUEUED, RunState.WAITING):
        return
    if run["state"] == RunState.WAITING:
        return
    now = now_ms()
    store.runs.update_one(
        {"_id": run_id, "state": RunState.QUEUED.value},
        {
            "$set": {
                "state": RunState.WAITING.value,
                "transitions": _transition(run, RunState.WAITING, now),
            }
        },
    )


def start_run(store: Store, run_id: str, *, worker: str | None = None) -> dict[str, Any] | None:
    """Move the run to `running`; None when it must not run (unknown or already finished).

    A run found `running` was delivered again after its worker died: it starts over and its
    attempt count says so.
    """
    run: dict[str, Any] | None = store.runs.find_one({"_id": run_id})
    if run is None or run["state"] in FINISHED_STATES:
        return None
    now = now_ms()
    fields = {
        "state": RunState.RUNNING.value,
        "started_at": now,
        "attempts": run.get("attempts", 0) + 1,
        "transitions": _transition(run, RunState.RUNNING, now),
        "stages": [],
        "progress": None,
        "worker": worker,
    }
    updated = store.runs.update_one({"_id": run_id, "state": run["state"]}, {"$set": fields})
    if updated.modified_count != 1:
        return None
    store.jobs.update_one(
        {"_id": run["job_id"], "pending_run_id": run_id},
        {"$set": {"pending_run_id": None}},
    )
    store.jobs.update_one({"_id": run["job_id"]}, {"$set": {"running_run_id": run_id}})
    run.update(fields)
    return run


def save_stages(store: Store, run_id: str, stages: list[dict[str, Any]]) -> None:
    store.runs.update_one({"_id": run_id}, {"$set": {"stages": stages}})


def save_progress(store: Store, run_id: str, progress: dict[str, Any]) -> None:
    store.runs.update_one({"_id": run_id}, {"$set": {"progress": progress}})


def finish_run(
    store: Store, run_id: str, state: RunState, *, error: dict[str, Any] | None = None
) -> bool:
    """Record the run's end and free its job. True when the job is due again (events came
    while it ran: see core/batches.py), so the caller should wake the ticker."""
    run = store.runs.find_one({"_id": run_id})
    if run is None or run["state"] in FINISHED_STATES:
        return False
    now = now_ms()
    store.runs.update_one(
        {"_id": run_id, "state": run["state"]},
        {
            "$set": {
                "state": state.value,
                "finished_at": now,
                "error": error,
                "transitions": _transition(run, state, now),
            }
        },
    )
    store.jobs.update_one(
        {"_id": run["job_id"], "running_run_id": run_id}, {"$set": {"running_run_id": None}}
    )
    store.jobs.update_one(
        {"_id": run["job_id"], "pending_run_id": run_id}, {"$set": {"pending_run_id": None}}
    )
    return batches.due_after_run(store, run["job_id"])


def is_pending(run: dict[str, Any]) -> bool:
    return RunState(run["state"]) in PENDING_STATES
