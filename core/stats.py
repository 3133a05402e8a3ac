"""Counts over the store: a project's stats for partners, the farm's figures for operators.

Everything is counted with `count_documents` and small sorted `find`s on indexed fields, the
subset of pymongo that MongoDB, nx-27017 and mongomock share (no aggregation pipeline).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.clock import now_ms
from core.models import ConnectionRole, JobKind, RunState, Trigger
from core.pipeline.changes import ChangeState
from core.store import Store

LAST_RUNS = 5
#: How many recently queued runs per state the timing figures are taken from.
TIMING_SAMPLE_RUNS = 100
#: Change states an operator watches per channel: work to do, and work that went wrong.
WATCHED_CHANGE_STATES = (ChangeState.PENDING, ChangeState.FAILED)
_TIMED_STATES = (RunState.RUNNING, RunState.SUCCEEDED, RunState.FAILED, RunState.HELD)


def _channels(store: Store, selector: dict[str, Any]) -> list[dict[str, Any]]:
    query = {**selector, "role": ConnectionRole.CHANNEL.value}
    return list(store.connections.find(query).sort([("order", 1), ("_id", 1)]))


def project_stats(store: Store, project: dict[str, Any]) -> dict[str, Any]:
    """Records, changes per channel per state, open issues, runs per state, the last runs."""
    pid = project["_id"]
    channels = [
        {
            "connection_id": channel["_id"],
            "name": channel.get("name"),
            "connector": channel.get("connector"),
            "states": {
                state.value: store.changes.count_documents(
                    {"connection_id": channel["_id"], "state": state.value}
                )
                for state in ChangeState
            },
        }
        for channel in _channels(store, {"project_id": pid})
    ]
    last_runs = (
        store.runs.find({"project_id": pid}).sort([("queued_at", -1), ("_id", -1)]).limit(LAST_RUNS)
    )
    return {
        "project_id": pid,
        "records": store.records.count_documents({"project_id": pid}),
        "changes": channels,
        "open_issues": store.issues.count_documents({"project_id": pid}),
        "runs": {
            state.value: store.runs.count_documents({"project_id": pid, "state": state.value})
            for state in RunState
        },
        "last_runs": list(last_runs),
    }


def runs_by_state_and_kind(store: Store) -> dict[tuple[str, str], int]:
    """How many stored runs are in each (state, job kind), zeros included."""
    return {
        (state.value, kind.value): store.runs.count_documents(
            {"state": state.value, "job_kind": kind.value}
        )
        for state in RunState
        for kind in JobKind
    }


def open_changes_per_channel(store: Store) -> list[tuple[dict[str, Any], str, int]]:
    """(channel connection, state, count) for every channel and watched change state."""
    return [
        (
            channel,
            state.value,
            store.changes.count_documents({"connection_id": channel["_id"], "state": state.value}),
        )
        for channel in _channels(store, {})
        for state in WATCHED_CHANGE_STATES
    ]


@dataclass
class RunTimings:
    """Durations and start delays of a sample of recent runs, in seconds.

    `durations_s` per job kind: finished_at − started_at of finished runs (succeeded, failed,
    held). `start_delays_s`: started_at − queued_at of scheduled runs that started; a
    scheduled run is queued the moment the ticker fires its slot, so this is how late after
    firing the work began (queue wait plus waiting for the project). The slot itself is not
    stored on the run; how late the ticker fires is `overdue_s` below.
    """

    durations_s: dict[str, list[float]] = field(default_factory=dict)
    start_delays_s: list[float] = field(default_factory=list)


def recent_run_timings(store: Store, *, sample: int = TIMING_SAMPLE_RUNS) -> RunTimings:
    """Timings of the `sample` most recently queued runs in each of running, succeeded,
    failed and held (through the index on state and queued_at)."""
    timings = RunTimings()
    projection = {
        "job_kind": 1,
        "trigger": 1,
        "state": 1,
        "queued_at": 1,
        "started_at": 1,
        "finished_at": 1,
    }
    for state in _TIMED_STATES:
        runs = store.runs.find({"state": state.value}, projection)
        for run in runs.sort("queued_at", -1).limit(sample):
            started, finished = run.get("started_at"), run.get("finished_at")
            if started is None:
                continue
            if run.get("trigger") == Trigger.SCHEDULE.value and run.get("queued_at") is not None:
                timings.start_delays_s.append(max(0, started - run["queued_at"]) / 1000)
            if finished is not None and state != RunState.RUNNING:
                kind = str(run.get("job_kind"))
                timings.durations_s.setdefault(kind, []).append(max(0, finished - started) / 1000)
    return timings


def overdue_s(store: Store, *, now: int | None = None) -> float:
    """How far past its fire time the most overdue job is (0 when none is due): the ticker
    fires due slots within its poll, so a growing figure means no ticker is leading."""
    now = now or now_ms()
    due = store.jobs.find({"next_fire_at": {"$lte": now}}, {"next_fire_at": 1})
    oldest = list(due.sort("next_fire_at", 1).limit(1))
    return max(0, now - oldest[0]["next_fire_at"]) / 1000 if oldest else 0.0


def quantile(values: Iterable[float], q: float) -> float:
    """The q-quantile (0 ≤ q ≤ 1) by the nearest-rank method; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-int(q * 1000) * len(ordered) // 1000))  # ceil(q * n), in integers
    return ordered[min(rank, len(ordered)) - 1]
