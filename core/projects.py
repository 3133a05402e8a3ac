"""Projects: one merchant integration each, owned by a tenant."""

from __future__ import annotations

from typing import Any

from core import jobs as jobs_service
from core.alerts import validate_alerts
from core.clock import now_ms
from core.errors import Conflict, NotFound, PlanLimitExceeded, ScheduleError
from core.ids import new_id
from core.plans import get_plan
from core.record_set_settings import RECORD_SET_DEFAULTS
from core.rules import validate_rules
from core.schedule import validate_schedule, validate_timezone
from core.store import Store
from core.versions import versioned

DEFAULT_PROJECT_SCHEDULE: dict[str, Any] = {"mode": "manual"}


def _project_schedule(data: object) -> dict[str, Any]:
    """A project's own schedule: any mode a job can fire by, but not `default` or `as_needed`."""
    schedule = validate_schedule(data)
    if schedule["mode"] in ("default", "as_needed"):
        raise ScheduleError(
            f"a project's schedule cannot be {schedule['mode']!r}; "
            "use interval, daily, automatic or manual",
            errors={"schedule": {"mode": ["not allowed for a project"]}},
        )
    return schedule


RECORD_SET_SETTINGS = tuple(RECORD_SET_DEFAULTS)


def record_set_settings(data: dict[str, Any]) -> dict[str, Any]:
    """The record-set settings among `data` (`core.record_set_settings` has their defaults;
    the API checked their shapes); a decimal threshold is stored as its text."""
    found = {k: data[k] for k in RECORD_SET_SETTINGS if k in data and data[k] is not None}
    if "low_price_threshold" in found:
        found["low_price_threshold"] = str(found["low_price_threshold"])
    return found


def get_project(store: Store, tenant_id: str, project_id: str) -> dict[str, Any]:
    """The tenant's project; another tenant's id is answered exactly like an unknown one."""
    project: dict[str, Any] | None = store.projects.find_one({"_id": project_id})
    if project is None or project["tenant_id"] != tenant_id:
        raise NotFound(f"project {project_id!r} not found")
    return project


def create_project(store: Store, tenant: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    plan = get_plan(tenant["plan"])
    if plan.max_projects is not None:
        count = store.projects.count_documents({"tenant_id": tenant["_id"]})
        if count >= plan.max_projects:
            raise PlanLimitExceeded(
                f"the plan {plan.name!r} allows {plan.max_projects} projects and this tenant "
                f"has {count}; delete a project or move to a larger plan"
            )
    now = now_ms()
    project = {
        "_id": new_id("prj"),
        "tenant_id": tenant["_id"],
        "name": data["name"],
        "timezone": validate_timezone(data.get("timezone", "UTC")),
        "schedule": _project_schedule(data.get("schedule", DEFAULT_PROJECT_SCHEDULE)),
        "paused": bool(data.get("paused", False)),
        "rules": validate_rules(data.get("rules", [])),
        "shrink_threshold_pct": data.get("shrink_threshold_pct", 50),
        "alerts": validate_alerts(data.get("alerts", [])),
        **RECORD_SET_DEFAULTS,
        **record_set_settings(data),
        "created_at": now,
        "updated_at": now,
        **versioned("projects"),
    }
    store.projects.insert_one(project)
    return project


def update_project(
    store: Store, tenant: dict[str, Any], project_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Apply `changes`; a new timezone, schedule or paused flag reschedules every job at once.

    Only the changed fields are written, so concurrent changes of other fields are kept.
    """
    project = get_project(store, tenant["_id"], project_id)
    fields: dict[str, Any] = {}
    if "name" in changes:
        fields["name"] = changes["name"]
    if "timezone" in changes:
        fields["timezone"] = validate_timezone(changes["timezone"])
    if "schedule" in changes:
        fields["schedule"] = _project_schedule(changes["schedule"])
    if "paused" in changes:
        fields["paused"] = bool(changes["paused"])
    if "rules" in changes:
        fields["rules"] = validate_rules(changes["rules"])
    if "alerts" in changes:
        fields["alerts"] = validate_alerts(changes["alerts"])
    if "shrink_threshold_pct" in changes:
        fields["shrink_threshold_pct"] = changes["shrink_threshold_pct"]
    fields.update(record_set_settings(changes))
    timing_changed = any(
        k in fields and fields[k] != project[k] for k in ("timezone", "schedule", "paused")
    )
    if timing_changed:
        jobs_service.check_plan_cap(store, tenant, {**project, **fields})
    fields["updated_at"] = now_ms()
    store.projects.update_one({"_id": project_id}, {"$set": fields})
    stored = get_project(store, tenant["_id"], project_id)
    if timing_changed:
        jobs_service.reschedule_project(store, stored)
    return stored


def delete_project(store: Store, tenant_id: str, project_id: str) -> None:
    """Delete the project and everything it owns; refused while one of its runs is active,
    since that run would write into a project that no longer exists."""
    get_project(store, tenant_id, project_id)
    for job in store.jobs.find({"project_id": project_id}):
        active = job.get("running_run_id") or job.get("pending_run_id")
        if active:
            raise Conflict(
                f"run {active!r} of this project is queued or running; pause the project, "
                "wait for the run to end, then delete",
                errors={"run_id": [str(active)]},
            )
    for name in (
        "jobs",
        "connections",
        "records",
        "runs",
        "events",
        "documents",
        "changes",
        "issues",
        "record_index",
    ):
        store.db[name].delete_many({"project_id": project_id})
    store.projects.delete_one({"_id": project_id})
