"""Jobs: what a schedule fires (`sync`, `fetch`, `send`, `task`), and their next fire times."""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from core.clock import to_ms, utcnow
from core.errors import Invalid, NotFound, PlanLimitExceeded, ScheduleError
from core.ids import new_id
from core.models import JobKind
from core.plans import get_plan
from core.schedule import (
    batch_due_at,
    effective_schedule,
    max_fires_per_day,
    next_fire,
    validate_schedule,
)
from core.store import Store
from core.versions import versioned
from plugins.registry import get_connector

DEFAULT_JOB_SCHEDULE: dict[str, Any] = {"mode": "default"}


def get_job(store: Store, project: dict[str, Any], job_id: str) -> dict[str, Any]:
    job: dict[str, Any] | None = store.jobs.find_one({"_id": job_id})
    if job is None or job["project_id"] != project["_id"]:
        raise NotFound(f"job {job_id!r} not found in project {project['_id']!r}")
    return job


def next_fire_at(job: dict[str, Any], project: dict[str, Any], now: datetime) -> int | None:
    """When the job fires next (epoch ms); None when paused, disabled or nothing will fire it.

    Clock schedules fire at their next slot after `now`; an `automatic` job fires when its
    batch of events is due (core/batches.py), which may already be past.
    """
    if project.get("paused") or not job.get("enabled", True):
        return None
    schedule = effective_schedule(job["schedule"], project["schedule"])
    if schedule["mode"] == "automatic":
        return batch_due_at(
            schedule,
            first_at=job.get("batch_first_at"),
            last_at=job.get("batch_last_at"),
            count=job.get("batch_count", 0),
        )
    fire = next_fire(schedule, project["timezone"], now)
    return None if fire is None else to_ms(fire)


def next_cleanup_at(job: dict[str, Any], project: dict[str, Any], now: datetime) -> int | None:
    """An automatic job's next clean-up run (epoch ms): two a day, 12 hours apart, at a time of
    day that is stable per project and spread across projects, so clean-ups of a whole farm do
    not all start at once. None for other jobs."""
    if project.get("paused") or not job.get("enabled", True):
        return None
    if effective_schedule(job["schedule"], project["schedule"])["mode"] != "automatic":
        return None
    half_day_ms = 12 * 3600 * 1000
    offset_ms = zlib.crc32(project["_id"].encode()) % half_day_ms
    now_ms = to_ms(now)
    return now_ms - (now_ms - offset_ms) % half_day_ms + half_day_ms


def _check_schedule_fits_job(schedule: dict[str, Any], job: dict[str, Any]) -> None:
    parent = job.get("parent_job_id")
    if schedule["mode"] == "as_needed" and not parent:
        raise ScheduleError(
            f"the {job['kind']} job {job.get('name') or job['_id']!r} has no parent task, so "
            "nothing would ever fire it as needed; give it an interval, daily, automatic, "
            "manual or default schedule instead",
            errors={"schedule": {"mode": ["as_needed requires a parent task"]}},
        )
    if parent and schedule["mode"] != "as_needed":
        raise ScheduleError(
            f"this job runs as needed after its parent task {parent!r} and cannot be "
            f"scheduled on its own; schedule job {parent!r} instead",
            errors={"schedule": {"mode": [f"must be as_needed (fired by job {parent})"]}},
        )


def scheduled_runs_per_day(jobs: list[dict[str, Any]], project: dict[str, Any]) -> int:
    """The most scheduled runs a day the project's enabled jobs can make."""
    total = 0
    for job in jobs:
        if job.get("enabled", True):
            schedule = effective_schedule(job["schedule"], project["schedule"])
            total += max_fires_per_day(schedule, project["timezone"])
    return total


def check_plan_cap(
    store: Store,
    tenant: dict[str, Any],
    project: dict[str, Any],
    replacing: dict[str, Any] | None = None,
) -> None:
    """Refuse schedules that would make more runs a day than the tenant's plan allows.

    `replacing` is a job (new or changed) counted in place of its stored version.
    """
    plan = get_plan(tenant["plan"])
    if plan.max_scheduled_runs_per_day is None:
        return
    jobs = list(store.jobs.find({"project_id": project["_id"]}))
    if replacing is not None:
        jobs = [j for j in jobs if j["_id"] != replacing["_id"]] + [replacing]
    total = scheduled_runs_per_day(jobs, project)
    if total > plan.max_scheduled_runs_per_day:
        raise PlanLimitExceeded(
            f"these schedules would make {total} scheduled runs a day in project "
            f"{project['_id']!r}; the plan {plan.name!r} allows "
            f"{plan.max_scheduled_runs_per_day} a day per project",
            errors={"schedule": [f"{total} runs a day > {plan.max_scheduled_runs_per_day}"]},
        )


def create_job(
    store: Store,
    tenant: dict[str, Any],
    project: dict[str, Any],
    data: dict[str, Any],
    *,
    job_id: str | None = None,
) -> dict[str, Any]:
    kind = JobKind(data["kind"])
    now = utcnow()
    job: dict[str, Any] = {
        "_id": job_id or new_id("job"),
        "tenant_id": tenant["_id"],
        "project_id": project["_id"],
        "name": data.get("name") or kind.value,
        "kind": kind.value,
        "connection_id": data.get("connection_id"),
        "task": data.get("task"),
        "parent_job_id": None,
        "enabled": bool(data.get("enabled", True)),
        "schedule": validate_schedule(data.get("schedule", DEFAULT_JOB_SCHEDULE)),
        "pending_run_id": None,
        "running_run_id": None,
        "coalesced_fires": 0,
        "last_fired_at": None,
        "created_at": to_ms(now),
        "updated_at": to_ms(now),
        **versioned("jobs"),
    }
    _check_references(store, project, job)
    _check_schedule_fits_job(job["schedule"], job)
    check_plan_cap(store, tenant, project, replacing=job)
    job["next_fire_at"] = next_fire_at(job, project, now)
    job["cleanup_next_at"] = next_cleanup_at(job, project, now)
    store.jobs.insert_one(job)
    if job["kind"] == JobKind.TASK:
        _create_follow_up(store, job)
    return job


def connection_job(
    store: Store, project: dict[str, Any], connection: dict[str, Any], kind: str
) -> dict[str, Any]:
    """The manual job behind a connection's fetch/send/sync button, created on first use
    (also used for the automatic retries of a channel's failed changes)."""
    job_id = f"job_{connection['_id']}_{kind}"
    job: dict[str, Any] | None = store.jobs.find_one({"_id": job_id})
    if job is not None:
        return job
    tenant = store.tenants.find_one({"_id": project["tenant_id"]}) or {
        "_id": "",
        "plan": "unlimited",
    }
    try:
        return create_job(
            store,
            tenant,
            project,
            {
                "kind": kind,
                "name": f"{kind} ({connection['name']})",
                "connection_id": connection["_id"],
                "schedule": {"mode": "manual"},
            },
            job_id=job_id,
        )
    except DuplicateKeyError:  # created meanwhile by another process
        return store.jobs.find_one({"_id": job_id}) or {}


def results_job(
    store: Store, project: dict[str, Any], connection: dict[str, Any], task: str
) -> dict[str, Any]:
    """The as-needed job that collects a channel's deferred results (created on first use;
    fired only after sends, never by a schedule)."""
    job_id = f"job_{connection['_id']}_results"
    job: dict[str, Any] | None = store.jobs.find_one({"_id": job_id})
    if job is not None:
        return job
    send = connection_job(store, project, connection, "send")
    job = _as_needed_task_job(send, task, name=f"{task} ({connection['name']})", job_id=job_id)
    try:
        store.jobs.insert_one(job)
    except DuplicateKeyError:
        return store.jobs.find_one({"_id": job_id}) or job
    return job


def update_job(
    store: Store,
    tenant: dict[str, Any],
    project: dict[str, Any],
    job_id: str,
    changes: dict[str, Any],
) -> dict[str, Any]:
    job = get_job(store, project, job_id)
    updated = dict(job)
    for field in ("name", "enabled", "connection_id", "task"):
        if field in changes:
            updated[field] = changes[field]
    if "schedule" in changes:
        updated["schedule"] = validate_schedule(changes["schedule"])
    _check_references(store, project, updated)
    _check_schedule_fits_job(updated["schedule"], updated)
    check_plan_cap(store, tenant, project, replacing=updated)
    now = utcnow()
    fields = {k: updated[k] for k in ("name", "enabled", "connection_id", "task", "schedule")}
    fields["updated_at"] = to_ms(now)
    if updated["schedule"] != job["schedule"] or updated["enabled"] != job["enabled"]:
        # Only a new timing moves the next fire; a rename keeps an overdue fire due.
        fields["next_fire_at"] = next_fire_at(updated, project, now)
        fields["cleanup_next_at"] = next_cleanup_at(updated, project, now)
    store.jobs.update_one({"_id": job_id}, {"$set": fields})
    updated.update(fields)
    return updated


def delete_job(store: Store, project: dict[str, Any], job_id: str) -> None:
    """Delete a job with its follow-up job; a follow-up goes only with its parent."""
    job = get_job(store, project, job_id)
    if job.get("parent_job_id"):
        raise Invalid(
            f"job {job_id!r} is the follow-up of job {job['parent_job_id']!r} and is deleted "
            "with it",
            errors={"job_id": ["follow-up job"]},
        )
    store.jobs.delete_many({"project_id": project["_id"], "parent_job_id": job_id})
    store.jobs.delete_one({"_id": job_id})


def reschedule_project(store: Store, project: dict[str, Any]) -> None:
    """Recompute every job's next fire time after the project's timing changed."""
    now = utcnow()
    for job in store.jobs.find({"project_id": project["_id"]}):
        store.jobs.update_one(
            {"_id": job["_id"]},
            {
                "$set": {
                    "next_fire_at": next_fire_at(job, project, now),
                    "cleanup_next_at": next_cleanup_at(job, project, now),
                }
            },
        )


def _check_task(store: Store, job: dict[str, Any]) -> None:
    cid, name = job.get("connection_id"), job.get("task")
    if not (cid and name):
        raise Invalid(
            "a task job needs `connection_id` and `task` (the connector task to run)",
            errors={"task": ["required for kind task"]},
        )
    connection = store.connections.find_one({"_id": cid}) or {}
    connector = get_connector(connection["connector"])
    if connector.task(name) is None:
        offered = ", ".join(t.name for t in connector.tasks) or "none"
        raise Invalid(
            f"connector {connector.name!r} has no task {name!r}; its tasks: {offered}",
            errors={"task": [f"unknown task {name!r}"]},
        )
    parent_task = next((t.name for t in connector.tasks if t.follow_up == name), None)
    if parent_task and not job.get("parent_job_id"):
        raise Invalid(
            f"task {name!r} runs as needed after {parent_task!r} finds work; create a job "
            f"for {parent_task!r} instead (its follow-up job is created with it)",
            errors={"task": [f"follow-up of {parent_task!r}"]},
        )


def _create_follow_up(store: Store, job: dict[str, Any]) -> None:
    """A task with a follow-up gets its as-needed job at once, fired only by this one."""
    connection = store.connections.find_one({"_id": job["connection_id"]}) or {}
    task = get_connector(connection["connector"]).task(job["task"])
    if task is None or task.follow_up is None:
        return
    store.jobs.insert_one(_as_needed_task_job(job, task.follow_up, name=task.follow_up))


def _as_needed_task_job(
    parent: dict[str, Any], task: str, *, name: str, job_id: str | None = None
) -> dict[str, Any]:
    """A task job fired only by `parent` (a follow-up, or a channel's results collector)."""
    now = to_ms(utcnow())
    return {
        **{k: parent[k] for k in ("tenant_id", "project_id", "connection_id")},
        "_id": job_id or new_id("job"),
        "name": name,
        "kind": JobKind.TASK.value,
        "task": task,
        "parent_job_id": parent["_id"],
        "enabled": True,
        "schedule": {"mode": "as_needed"},
        "pending_run_id": None,
        "running_run_id": None,
        "coalesced_fires": 0,
        "last_fired_at": None,
        "next_fire_at": None,
        "created_at": now,
        "updated_at": now,
        **versioned("jobs"),
    }


def _check_references(store: Store, project: dict[str, Any], job: dict[str, Any]) -> None:
    cid = job.get("connection_id")
    if cid is not None:
        connection = store.connections.find_one({"_id": cid})
        if connection is None or connection["project_id"] != project["_id"]:
            raise Invalid(
                f"connection {cid!r} is not a connection of project {project['_id']!r}",
                errors={"connection_id": ["unknown connection"]},
            )
    if job["kind"] == JobKind.TASK:
        _check_task(store, job)
    parent = job.get("parent_job_id")
    if parent is not None:
        parent_job = store.jobs.find_one({"_id": parent})
        if parent_job is None or parent_job["project_id"] != project["_id"]:
            raise Invalid(
                f"parent job {parent!r} is not a job of project {project['_id']!r}",
                errors={"parent_job_id": ["unknown job"]},
            )
