"""Retention: old events and runs are deleted, and finished runs' spool directories removed.

Without it the store grows without bound: automatic mode stores every webhook event, and a job
running every minute stores 1,440 runs a day. The leading ticker calls `clean_up` now and then
(cron/ticker.py); one call deletes at most `max_deletes` documents per collection, so it never
holds a tick for long, and says whether more is left for the next call.

Old documents are found through the indexes (events by (project_id, received_at), runs by
(state, queued_at)) and deleted by `_id $in` batches, which every store answers quickly.

Runs that are kept whatever their age: a run still queued, waiting or running; each job's
latest finished run (its history shows when it last ran and how); and a run an open issue
points to.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.models import FINISHED_STATES
from core.store import Store

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
#: Redis hash of what clean-up passes deleted, by kind (read by `/metrics`)
COUNTERS_KEY = "syncfarm:retention:deleted"
DELETE_BATCH = 500
#: a spool directory untouched this long may be removed once its run has ended
SPOOL_GRACE_S = 600.0


@dataclass(frozen=True)
class RetentionPolicy:
    """How long documents are kept.

    Parameters:
      event_days, run_days: age (by `received_at`, `queued_at`) past which events and runs
        are deleted; 0 keeps them forever.
      data_dir: SYNCFARM_DATA_DIR, whose `tmp/<run_id>` spool directories are removed once
        their run has ended (None: left alone).
      max_deletes: the most documents (and directories) one call deletes of each kind.
      max_projects: the most projects whose events one call looks at (one query each).
    """

    event_days: float = 7.0
    run_days: float = 30.0
    data_dir: Path | None = None
    max_deletes: int = 5000
    max_projects: int = 500


@dataclass
class RetentionReport:
    """What one call deleted; `more` when it stopped at its bound with more to do."""

    events: int = 0
    runs: int = 0
    spool_dirs: int = 0
    more: bool = False
    #: where the next call resumes its scan of old runs (queued_at, epoch ms)
    runs_resume_at: int = 0
    #: the project after which the next call resumes its scan of old events
    events_resume_after: str = ""


def clean_up(
    store: Store,
    policy: RetentionPolicy,
    *,
    now: int,
    runs_resume_at: int = 0,
    events_resume_after: str = "",
) -> RetentionReport:
    """Delete what is past its retention, at most `policy.max_deletes` of each kind.

    `runs_resume_at` and `events_resume_after` come from the previous call's report: a scan
    that stopped at its bound goes on from there (runs that must be kept, and projects
    already looked at, are not scanned again on every call)."""
    report = RetentionReport()
    if policy.event_days > 0:
        cutoff = now - int(policy.event_days * DAY_MS)
        report.events, more, report.events_resume_after = delete_old_events(
            store, cutoff, policy.max_deletes, events_resume_after, policy.max_projects
        )
        report.more |= more
    if policy.run_days > 0:
        cutoff = now - int(policy.run_days * DAY_MS)
        deleted, resume_at = delete_old_runs(store, cutoff, policy.max_deletes, runs_resume_at)
        report.runs, report.runs_resume_at = deleted, resume_at
        report.more |= resume_at > 0
    if policy.data_dir is not None:
        report.spool_dirs = remove_spool_dirs(store, policy.data_dir, policy.max_deletes)
        report.more |= report.spool_dirs >= policy.max_deletes
    return report


def _delete_ids(collection: Any, ids: list[Any]) -> int:
    deleted = 0
    for start in range(0, len(ids), DELETE_BATCH):
        done = collection.delete_many({"_id": {"$in": ids[start : start + DELETE_BATCH]}})
        deleted += int(done.deleted_count)
    return deleted


def delete_old_events(
    store: Store, cutoff_ms: int, limit: int, after: str = "", max_projects: int = 500
) -> tuple[int, bool, str]:
    """Delete up to `limit` events received before `cutoff_ms`, project by project in `_id`
    order from the one after `after`, at most `max_projects` of them (the (project_id,
    received_at) index answers each project's query).

    Returns (deleted, whether the scan stopped at a bound, the project after which the next
    call resumes: "" is the start)."""
    old: list[Any] = []
    projects = list(
        store.projects.find({"_id": {"$gt": after}}, {"_id": 1}).sort("_id", 1).limit(max_projects)
    )
    for project in projects:
        found = store.events.find(
            {"project_id": project["_id"], "received_at": {"$lt": cutoff_ms}}, {"_id": 1}
        ).limit(limit - len(old) + 1)
        ids = [doc["_id"] for doc in found]
        if len(old) + len(ids) > limit:
            old.extend(ids[: limit - len(old)])
            return _delete_ids(store.events, old), True, after  # this project has more
        old.extend(ids)
        after = project["_id"]
    if len(projects) == max_projects:
        return _delete_ids(store.events, old), True, after
    return _delete_ids(store.events, old), False, ""


def delete_old_runs(
    store: Store, cutoff_ms: int, limit: int, resume_at: int = 0
) -> tuple[int, int]:
    """Delete up to `limit` finished runs queued before `cutoff_ms`, oldest first from
    `resume_at`, keeping each job's latest run and the runs open issues point to.

    Returns (deleted, where to resume): 0 when the scan reached the cutoff."""
    query = {"queued_at": {"$gte": resume_at, "$lt": cutoff_ms}}
    page: list[dict[str, Any]] = []
    fields = {"_id": 1, "project_id": 1, "job_id": 1, "queued_at": 1}
    for state in sorted(FINISHED_STATES):
        found = store.runs.find({"state": state.value, **query}, fields)
        page.extend(found.sort("queued_at", 1).limit(limit))
    page.sort(key=lambda run: (run["queued_at"], run["_id"]))
    page = page[:limit]
    if not page:
        return 0, 0
    kept = _latest_of_their_jobs(store, page) | _pointed_to_by_issues(store, page)
    deleted = _delete_ids(store.runs, [run["_id"] for run in page if run["_id"] not in kept])
    if len(page) < limit:
        return deleted, 0
    last = page[-1]["queued_at"]
    # Runs kept at the page's last instant are scanned again from it; when the whole page
    # is such runs, step past it so the scan always moves on.
    return deleted, last if last > resume_at or deleted else last + 1


def _latest_of_their_jobs(store: Store, page: Iterable[dict[str, Any]]) -> set[str]:
    """The runs of `page` that are their job's latest finished run: no finished run of the
    job is newer (a run still under way does not count: it may yet fail to end)."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for run in page:
        key = (run["project_id"], run["job_id"])
        if key not in newest or run["queued_at"] >= newest[key]["queued_at"]:
            newest[key] = run
    kept = set()
    finished = sorted(state.value for state in FINISHED_STATES)
    for (project_id, job_id), run in newest.items():
        newer = store.runs.find_one(
            {
                "project_id": project_id,
                "job_id": job_id,
                "queued_at": {"$gt": run["queued_at"]},
                "state": {"$in": finished},
            },
            {"_id": 1},
        )
        if newer is None:
            kept.add(run["_id"])
    return kept


def _pointed_to_by_issues(store: Store, page: list[dict[str, Any]]) -> set[str]:
    ids = [run["_id"] for run in page]
    kept: set[str] = set()
    for start in range(0, len(ids), DELETE_BATCH):
        found = store.issues.find({"run_id": {"$in": ids[start : start + DELETE_BATCH]}})
        kept.update(doc["run_id"] for doc in found)
    return kept


def remove_spool_dirs(store: Store, data_dir: Path, limit: int) -> int:
    """Remove up to `limit` directories `data_dir/tmp/<run_id>` whose run has ended or is no
    longer stored, and that nothing has touched for SPOOL_GRACE_S."""
    tmp = data_dir / "tmp"
    try:
        entries = [e for e in tmp.iterdir() if e.is_dir() and e.name.startswith("run_")]
    except FileNotFoundError:
        return 0
    except OSError as exc:
        log.warning("retention: could not list %s: %s", tmp, exc)
        return 0
    idle_before = time.time() - SPOOL_GRACE_S
    candidates = [e for e in entries if _mtime(e) < idle_before]
    removed = 0
    finished = {state.value for state in FINISHED_STATES}
    for start in range(0, len(candidates), DELETE_BATCH):
        chunk = candidates[start : start + DELETE_BATCH]
        states = {
            run["_id"]: run["state"]
            for run in store.runs.find({"_id": {"$in": [e.name for e in chunk]}}, {"state": 1})
        }
        for entry in chunk:
            state = states.get(entry.name)
            if state is not None and state not in finished:
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
            if removed >= limit:
                return removed
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")
