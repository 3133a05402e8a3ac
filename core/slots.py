"""Firing scheduled slots: a job's `next_fire_at` (or `cleanup_next_at`) fires once, whichever
ticker gets there, and moves on to the job's following slot.

Claiming the run and moving the slot are one compare-and-set on the job, so a ticker killed at
any point leaves each slot either still due, or fired with its run stored (a run stored but
never claimed is deleted by the stale-run scan; one claimed but never sent is re-sent).
`fire_slots` does the same for a whole batch of due jobs in three database commands instead
of two per job: the runs in one `insert_many`, the claims in one unordered `bulk_write`, and,
only when some claim lost, one read of those jobs by `_id` to see which. Those runs are stored
with `sent: False`, set to True (one write for the batch) once their messages are sent: a
ticker killed between claiming a batch and sending it leaves them for the next leader, which
sends them as it takes over (`unsent_runs`), not only after the stale-run period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import UpdateOne

from core.models import RunState, Trigger
from core.runs import free_job_of_ended_runs, new_run
from core.store import Store


@dataclass(frozen=True)
class SlotFire:
    """One due slot to fire: the job as read, the slot it moves to, and whether a run is
    queued (False for a paused or vanished project: the slot only moves on)."""

    job: dict[str, Any]
    following: int | None
    queue: bool = True


def _moved(slot_field: str, following: int | None, now: int) -> dict[str, Any]:
    moved: dict[str, Any] = {slot_field: following}
    if slot_field == "next_fire_at":
        moved["last_fired_at"] = now
    return moved


def fire_slots(
    store: Store,
    fires: Sequence[SlotFire],
    trigger: Trigger,
    *,
    slot_field: str = "next_fire_at",
    now: int,
) -> list[dict[str, Any]]:
    """Fire each job's slot as `fire_slot` does, returning the runs queued (not yet sent).

    Jobs read idle are claimed in bulk; a claim that loses (another ticker fired the slot, or
    a run was queued meanwhile) has its run deleted and the job goes through `fire_slot`,
    which coalesces or finds the slot fired. Jobs read busy or not queuing go through
    `fire_slot` directly."""
    bulk: dict[str, tuple[SlotFire, dict[str, Any]]] = {}
    rest: list[SlotFire] = []
    for fire in fires:
        job = fire.job
        if not fire.queue or job.get("pending_run_id") or job.get("running_run_id"):
            rest.append(fire)
            continue
        run = new_run(job, trigger, now)
        run["slot"] = job.get(slot_field)
        run["sent"] = False
        bulk[job["_id"]] = (fire, run)
    if bulk:
        store.runs.insert_many([run for _, run in bulk.values()], ordered=False)
        claims = [
            UpdateOne(
                {
                    "_id": job_id,
                    slot_field: fire.job.get(slot_field),
                    "pending_run_id": None,
                    "running_run_id": None,
                },
                {"$set": {**_moved(slot_field, fire.following, now), "pending_run_id": run["_id"]}},
            )
            for job_id, (fire, run) in bulk.items()
        ]
        if store.jobs.bulk_write(claims, ordered=False).modified_count != len(bulk):
            lost = _lost_claims(store, bulk)
            store.runs.delete_many(
                {"_id": {"$in": [bulk[j][1]["_id"] for j in lost]}, "state": RunState.QUEUED.value}
            )
            rest.extend(bulk.pop(j)[0] for j in lost)
    fired = [run for _, run in bulk.values()]
    for fire in rest:
        one = fire_slot(
            store,
            fire.job,
            trigger,
            slot_field=slot_field,
            following=fire.following,
            now=now,
            queue=fire.queue,
        )
        if one is not None:
            fired.append(one)
    return fired


def mark_sent(store: Store, runs: Sequence[dict[str, Any]]) -> None:
    """Record that these runs' messages were sent (those stored unsent by `fire_slots` and
    `fire_slot`)."""
    unsent = [run["_id"] for run in runs if run.get("sent") is False]
    if unsent:
        store.runs.update_many({"_id": {"$in": unsent}}, {"$set": {"sent": True}})


def unsent_runs(store: Store) -> list[dict[str, Any]]:
    """Runs fired in bulk, claimed by their job and still queued, whose message was never
    sent: their ticker stopped between claiming and sending. A run stored but not claimed is
    left alone: its ticker may only be slow, about to claim it; if it stopped, the stale-run
    scan deletes the run later (`core.runs.stale_pending_runs`)."""
    unsent = []
    for run in store.runs.find({"state": RunState.QUEUED.value, "sent": False}):
        job = store.jobs.find_one({"_id": run["job_id"]}, {"pending_run_id": 1})
        if job is not None and job.get("pending_run_id") == run["_id"]:
            unsent.append(run)
    return unsent


def _lost_claims(store: Store, bulk: dict[str, tuple[SlotFire, dict[str, Any]]]) -> list[str]:
    """The ids of the jobs whose claim did not take (read back by `_id`)."""
    found = store.jobs.find(
        {"_id": {"$in": list(bulk)}}, {"pending_run_id": 1, "running_run_id": 1}
    )
    won = {
        job["_id"]
        for job in found
        if bulk[job["_id"]][1]["_id"] in (job.get("pending_run_id"), job.get("running_run_id"))
    }
    return [job_id for job_id in bulk if job_id not in won]


def fire_slot(
    store: Store,
    job: dict[str, Any],
    trigger: Trigger,
    *,
    slot_field: str = "next_fire_at",
    following: int | None,
    now: int,
    queue: bool = True,
) -> dict[str, Any] | None:
    """Fire the job's slot (its current `slot_field` value) and move it to `following`.

    Claiming the run and moving the slot are one compare-and-set on the job, so whichever
    ticker wins fires the slot, and a ticker killed at any point leaves the slot either still
    due or fired with its run stored (a run whose message was never sent is re-sent by the
    leading ticker). The run records its `slot`. When the job has a run queued, waiting or
    running, the fire coalesces (counted on the job and that run) and None is returned; also
    None when another ticker fired the slot first, or `queue` is False (a paused project: the
    slot only moves on)."""
    slot = job.get(slot_field)
    moved = _moved(slot_field, following, now)
    if queue and (job.get("pending_run_id") or job.get("running_run_id")):
        free_job_of_ended_runs(store, job)  # a job left pointing at an ended run is idle
    if queue:
        run = new_run(job, trigger, now)
        run["slot"] = slot
        run["sent"] = False  # until `mark_sent`: a new leader sends it if its ticker stops
        store.runs.insert_one(run)
        claimed = store.jobs.update_one(
            {"_id": job["_id"], slot_field: slot, "pending_run_id": None, "running_run_id": None},
            {"$set": {**moved, "pending_run_id": run["_id"]}},
        )
        if claimed.modified_count == 1:
            return run
        store.runs.delete_one({"_id": run["_id"]})
    coalesce = queue and trigger == Trigger.SCHEDULE
    update: dict[str, Any] = {"$set": {**moved, **({"last_coalesced_at": now} if coalesce else {})}}
    if coalesce:
        update["$inc"] = {"coalesced_fires": 1}
    if store.jobs.update_one({"_id": job["_id"], slot_field: slot}, update).modified_count != 1:
        return None  # another ticker fired this slot
    if coalesce:
        current = store.jobs.find_one({"_id": job["_id"]}) or {}
        active = current.get("pending_run_id") or current.get("running_run_id")
        if active:
            store.runs.update_one({"_id": active}, {"$inc": {"coalesced_fires": 1}})
    return None
