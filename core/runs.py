"""Runs: one execution of a job, and every state transition it goes through.

A job holds at most one pending run (`queued` or `waiting`) in `pending_run_id` and at most one
running run in `running_run_id`; both are claimed with compare-and-set on the job document, so
fires never pile up whichever process makes them.

Fencing: a run started under the project mutex carries its lease's fencing token (`fence`).
Starting it raises the project's `fence` to that token (`$max`: only upwards), and
every later write of the run (stages, progress, its end, the pipeline's commit and
acknowledgements) first checks that the project's `fence` is still its own, and is refused with
`RunFencedOut` otherwise: a worker that stalled past its lease, while another run took the
project, cannot overwrite what that run wrote.

Firing scheduled slots (one compare-and-set per slot, also in bulk) is in core/slots.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument

from core import batches
from core.clock import now_ms
from core.errors import Conflict, NotFound, SyncfarmError
from core.ids import new_id
from core.models import FINISHED_STATES, PENDING_STATES, RunState, Trigger
from core.store import Store
from core.versions import versioned


class RunFencedOut(SyncfarmError):
    """The run no longer holds its project: a run with a higher fencing token started since
    (this one's worker stalled past its lease). Its writes are refused; it is tried again.
    `project_fence`: the project's stored fence, when the run was refused as it started."""

    def __init__(self, message: str, *, project_fence: int | None = None) -> None:
        super().__init__(message)
        self.project_fence = project_fence


def get_run(store: Store, tenant_id: str, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] | None = store.runs.find_one({"_id": run_id})
    if run is None or run["tenant_id"] != tenant_id:
        raise NotFound(f"run {run_id!r} not found")
    return run


def new_run(job: dict[str, Any], trigger: Trigger, now: int) -> dict[str, Any]:
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
        **versioned("runs"),
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
    run = new_run(job, trigger, now)
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
        job = store.jobs.find_one({"_id": run["job_id"]}, {"pending_run_id": 1})
        if job is not None and job.get("pending_run_id") != run["_id"]:
            # A run its job never took (a ticker died between storing it and claiming the
            # job): it was never sent, and the slot fired (or fires) with another run.
            store.runs.delete_one({"_id": run["_id"], "state": RunState.QUEUED.value})
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


def _take_fence(store: Store, project_id: str, fence: int) -> dict[str, Any] | None:
    """Raise the project's `fence` to `fence` and return the project as it is after that (None
    when it is gone), or refuse: a higher fence means a later holder of the project's lease
    started a run since ours was granted.

    One `$max` (it only ever raises the value, and sets it on a project that has none),
    returning the document: the fence read back is ours, or a higher one that refuses us. No
    filter by `$or`: nx-27017 ignores the `_id` of a filter with a top-level `$or`."""
    project: dict[str, Any] | None = store.projects.find_one_and_update(
        {"_id": project_id}, {"$max": {"fence": fence}}, return_document=ReturnDocument.AFTER
    )
    if project is not None and project.get("fence") != fence:
        raise RunFencedOut(
            f"project {project_id!r} was taken by a later run (fencing token above "
            f"{fence}); this run's lease had lapsed",
            project_fence=project.get("fence"),
        )
    return project


def check_fence(store: Store, run: dict[str, Any]) -> None:
    """Raise RunFencedOut unless the run still holds the highest fence of its project (runs
    started without the mutex, e.g. in-process in tests, carry none and are not fenced)."""
    fence = run.get("fence")
    if fence is None:
        return
    held = store.projects.find_one({"_id": run["project_id"], "fence": fence}, {"_id": 1})
    if held is None and store.projects.find_one({"_id": run["project_id"]}, {"_id": 1}):
        raise RunFencedOut(
            f"run {run['_id']!r} lost project {run['project_id']!r} to a later run; "
            "its late writes are refused"
        )


def _fenced_update(store: Store, run: dict[str, Any], fields: dict[str, Any]) -> None:
    """Update the run document if the run still holds its project (and, for a redelivered
    run, the document still names this attempt's fence)."""
    check_fence(store, run)
    query: dict[str, Any] = {"_id": run["_id"]}
    if run.get("fence") is not None:
        query["fence"] = run["fence"]
    if store.runs.update_one(query, {"$set": fields}).matched_count != 1 and "fence" in query:
        raise RunFencedOut(
            f"run {run['_id']!r} was started again by another worker; this attempt's late "
            "writes are refused"
        )


@dataclass(frozen=True)
class StartedRun:
    """A run just moved to `running`, with its project and job as they were read while
    starting it (None when not read: the executor reads them itself)."""

    run: dict[str, Any]
    project: dict[str, Any] | None
    job: dict[str, Any] | None


def start_run(
    store: Store, run_id: str, *, worker: str | None = None, fence: int | None = None
) -> dict[str, Any] | None:
    """Move the run to `running`; None when it must not run (unknown or already finished).

    A run found `running` was delivered again after its worker died: it starts over and its
    attempt count says so. `fence` is the fencing token of the project lease the run holds;
    RunFencedOut when a run with a higher one started since.
    """
    started = begin_run(store, run_id, worker=worker, fence=fence)
    return started.run if started is not None else None


def begin_run(
    store: Store, run_id: str, *, worker: str | None = None, fence: int | None = None
) -> StartedRun | None:
    """`start_run`, also returning the project and job documents its writes read back, so
    the worker does not read them again (four database commands in all)."""
    run: dict[str, Any] | None = store.runs.find_one({"_id": run_id})
    if run is None:
        return None
    if run["state"] in FINISHED_STATES:
        # Delivered again after its worker wrote the end and died before freeing the job:
        # free it now, or every later fire would coalesce into this finished run.
        _free_job(store, run)
        return None
    project = _take_fence(store, run["project_id"], fence) if fence is not None else None
    now = now_ms()
    fields = {
        "fence": fence,
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
    # The job's pending run becomes its running run in one write (no moment where the job
    # looks idle); a run delivered again is no longer pending, and only takes `running`.
    job: dict[str, Any] | None = store.jobs.find_one_and_update(
        {"_id": run["job_id"], "pending_run_id": run_id},
        {"$set": {"pending_run_id": None, "running_run_id": run_id}},
        return_document=ReturnDocument.AFTER,
    )
    if job is None:
        job = store.jobs.find_one_and_update(
            {"_id": run["job_id"]},
            {"$set": {"running_run_id": run_id}},
            return_document=ReturnDocument.AFTER,
        )
    run.update(fields)
    return StartedRun(run, project, job)


def save_stages(store: Store, run: dict[str, Any] | str, stages: list[dict[str, Any]]) -> None:
    """Save the run's stages (`run` is the run, or the id of an unfenced one)."""
    _fenced_update(store, _as_run(run), {"stages": stages})


def save_progress(store: Store, run: dict[str, Any] | str, progress: dict[str, Any]) -> None:
    """Save the run's progress (`run` is the run, or the id of an unfenced one)."""
    _fenced_update(store, _as_run(run), {"progress": progress})


def _as_run(run: dict[str, Any] | str) -> dict[str, Any]:
    return {"_id": run} if isinstance(run, str) else run


def finish_run(
    store: Store,
    run_id: str,
    state: RunState,
    *,
    error: dict[str, Any] | None = None,
    fence: int | None = None,
    started: dict[str, Any] | None = None,
) -> bool:
    """Record the run's end and free its job. True when the job is due again (events came
    while it ran: see core/batches.py), so the caller should wake the ticker. With `fence`
    (the attempt's fencing token), RunFencedOut when the run no longer holds its project.

    `started` is the run as `start_run` returned it to this attempt: it is not read again,
    and the end is written only if the document still shows that attempt (else it is read
    and the end written as without it)."""
    run = started if started is not None else store.runs.find_one({"_id": run_id})
    if run is None or run["state"] in FINISHED_STATES:
        return False
    if fence is not None:
        check_fence(store, {**run, "fence": fence})
    now = now_ms()
    query: dict[str, Any] = {"_id": run_id, "state": run["state"]}
    if started is not None:
        query["attempts"] = started.get("attempts", 0)
    if fence is not None:
        query["fence"] = fence
    ended = store.runs.update_one(
        query,
        {
            "$set": {
                "state": state.value,
                "finished_at": now,
                "error": error,
                "transitions": _transition(run, state, now),
            }
        },
    )
    if ended.modified_count != 1 and started is not None:
        return finish_run(store, run_id, state, error=error, fence=fence)
    if ended.modified_count != 1 and fence is not None:
        raise RunFencedOut(f"run {run_id!r} was started again by another worker")
    return _free_job(store, run)


def _free_job(store: Store, run: dict[str, Any]) -> bool:
    """The run has ended: take it off its job (idempotent). True when the job is due again."""
    run_id = run["_id"]
    job: dict[str, Any] | None = store.jobs.find_one_and_update(
        {"_id": run["job_id"], "running_run_id": run_id},
        {"$set": {"running_run_id": None}},
        return_document=ReturnDocument.AFTER,
    )
    if job is None or job.get("pending_run_id") == run_id:
        store.jobs.update_one(
            {"_id": run["job_id"], "pending_run_id": run_id}, {"$set": {"pending_run_id": None}}
        )
    elif job.get("batch_count", 0) <= 0:
        return False  # no events came while it ran (what `due_after_run` would read)
    return batches.due_after_run(store, run["job_id"])


def free_job_of_ended_runs(store: Store, job: dict[str, Any]) -> bool:
    """Clear the job's `pending_run_id` / `running_run_id` (as read in `job`) where they name
    a run that has ended or is no longer stored: its worker died between writing the run's
    end and freeing the job, and no message is left to finish the work. True when any was
    cleared (each with a compare-and-set on the id, so a newer claim is never undone)."""
    freed = False
    for field in ("pending_run_id", "running_run_id"):
        run_id = job.get(field)
        if not run_id:
            continue
        run = store.runs.find_one({"_id": run_id}, {"state": 1})
        if run is not None and run["state"] not in FINISHED_STATES:
            continue
        cleared = store.jobs.update_one({"_id": job["_id"], field: run_id}, {"$set": {field: None}})
        freed = freed or cleared.modified_count == 1
    return freed


def is_pending(run: dict[str, Any]) -> bool:
    return RunState(run["state"]) in PENDING_STATES
