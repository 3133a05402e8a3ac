"""Micro-batches of events on `automatic` jobs, so a burst of events becomes a few runs.

The batch lives on the job document: `batch_count`, and `batch_first_at` / `batch_last_at`
(epoch ms, absent while the batch is empty). Receiving an event adds to it atomically and moves
the job's `next_fire_at` to when the batch is due (core/schedule/batching.py); the ticker fires
the job like any due job, with trigger `event`, and takes the batch off the job once its run is
claimed.

No event is lost to a busy job: while the job has a run queued or running, its batch is kept
and the job has no next fire time; when that run ends, `due_after_run` makes the job due again
(at once, or when the batch's own debounce ends). Every write is an atomic increment or a
compare-and-set, so web processes, workers and tickers may race: the worst a race does is fire
a batch early, or fire one more run than needed.
"""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument

from core import jobs as jobs_service
from core.clock import utcnow
from core.schedule import effective_schedule
from core.store import Store


def is_automatic(job: dict[str, Any], project: dict[str, Any]) -> bool:
    """True when events fire the job: it is enabled and its effective schedule is automatic."""
    if not job.get("enabled", True):
        return False
    return effective_schedule(job["schedule"], project["schedule"])["mode"] == "automatic"


def automatic_jobs(store: Store, project: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        job
        for job in store.jobs.find({"project_id": project["_id"]}).sort("_id", 1)
        if is_automatic(job, project)
    ]


def add_event(store: Store, job: dict[str, Any], project: dict[str, Any], now: int) -> bool:
    """Add an event received at `now` to the job's batch; True when the job is due sooner
    than it was (so the ticker should look now rather than when it planned to)."""
    batched: dict[str, Any] | None = store.jobs.find_one_and_update(
        {"_id": job["_id"]},
        {
            "$inc": {"batch_count": 1},
            "$min": {"batch_first_at": now},
            "$max": {"batch_last_at": now},
        },
        return_document=ReturnDocument.AFTER,
    )
    if batched is None or batched.get("pending_run_id") or batched.get("running_run_id"):
        return False  # the batch waits for the active run: due_after_run sets its time
    before = batched.get("next_fire_at")
    due = _set_due(store, batched, project)
    return due is not None and (before is None or due < before)


def take_batch(store: Store, job: dict[str, Any], run: dict[str, Any], now: int) -> None:
    """The batch as read in `job` belongs to `run`, just claimed: take exactly its events off
    the job and mark them consumed by the run. Events that came since stay, as a new batch."""
    count = job.get("batch_count", 0)
    after: dict[str, Any] | None = store.jobs.find_one_and_update(
        {"_id": job["_id"]},
        {"$inc": {"batch_count": -count}, "$set": {"last_fired_at": now}},
        return_document=ReturnDocument.AFTER,
    )
    if after is not None:
        left = after["batch_count"]
        if left <= 0:
            store.jobs.update_one(
                {"_id": job["_id"], "batch_count": left},
                {
                    "$set": {"batch_count": 0, "next_fire_at": None},
                    "$unset": {"batch_first_at": "", "batch_last_at": ""},
                },
            )
        else:  # they came after the batch was read, so after `now`
            store.jobs.update_one(
                {"_id": job["_id"], "batch_count": left}, {"$set": {"batch_first_at": now}}
            )
    consumed = f"run_ids.{job['_id']}"
    store.events.update_many(
        {
            "project_id": job["project_id"],
            "job_ids": job["_id"],
            consumed: None,
            "received_at": {"$lte": job.get("batch_last_at") or now},
        },
        {"$set": {consumed: run["_id"]}},
    )


def park_batch(store: Store, job: dict[str, Any]) -> None:
    """The job's batch is due while a run of the job is queued or running (as read in `job`):
    keep the batch and take the job off the due list until that run ends. If the run ended
    meanwhile, the compare-and-set fails and the job stays due."""
    store.jobs.update_one(
        {
            "_id": job["_id"],
            "next_fire_at": job["next_fire_at"],
            "pending_run_id": job.get("pending_run_id"),
            "running_run_id": job.get("running_run_id"),
        },
        {"$set": {"next_fire_at": None}},
    )


def due_after_run(store: Store, job_id: str) -> bool:
    """A run of the job ended: a batch kept while it ran is due again. True when the job now
    has a next fire time (so the ticker should look)."""
    job = store.jobs.find_one({"_id": job_id})
    if job is None or job.get("batch_count", 0) <= 0:
        return False
    if job.get("pending_run_id") or job.get("running_run_id"):
        return False  # the next run's end makes it due
    project = store.projects.find_one({"_id": job["project_id"]})
    if project is None or not is_automatic(job, project):
        return False
    return _set_due(store, job, project) is not None


def _set_due(store: Store, job: dict[str, Any], project: dict[str, Any]) -> int | None:
    """Set the job's next fire time to when its batch, as read in `job`, is due. If the batch
    changed since, whoever changed it sets the time instead."""
    due = jobs_service.next_fire_at(job, project, utcnow())
    if due != job.get("next_fire_at"):
        store.jobs.update_one(
            {"_id": job["_id"], "batch_count": job["batch_count"]},
            {"$set": {"next_fire_at": due}},
        )
    return due
