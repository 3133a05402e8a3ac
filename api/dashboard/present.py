"""How the pages show times, durations, schedules and progress (Jinja filters)."""

from __future__ import annotations

from typing import Any

from api.dashboard import blp
from core.clock import from_ms, now_ms
from core.models import RunState
from core.schedule import WEEKDAYS

STATE_CLASSES = {
    RunState.SUCCEEDED.value: "ok",
    RunState.FAILED.value: "bad",
    RunState.HELD.value: "warn",
    RunState.RUNNING.value: "busy",
    RunState.QUEUED.value: "wait",
    RunState.WAITING.value: "wait",
    RunState.SKIPPED.value: "muted",
}


@blp.app_template_filter("when")
def when(ms: int | None) -> str:
    """`2026-11-25 14:03:05 UTC`, or an em dash for no time."""
    if ms is None:
        return "—"
    return from_ms(int(ms)).strftime("%Y-%m-%d %H:%M:%S UTC")


@blp.app_template_filter("iso")
def iso(ms: int | None) -> str:
    return "" if ms is None else from_ms(int(ms)).isoformat()


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@blp.app_template_filter("relative")
def relative(ms: int | None) -> str:
    """`3 min ago` / `in 2.5 h`."""
    if ms is None:
        return ""
    delta_s = (int(ms) - now_ms()) / 1000
    return f"in {_span(delta_s)}" if delta_s > 0 else f"{_span(delta_s)} ago"


@blp.app_template_filter("duration")
def duration(start_ms: int | None, end_ms: int | None = None) -> str:
    if start_ms is None:
        return "—"
    end = end_ms if end_ms is not None else now_ms()
    seconds = max(0, end - start_ms) / 1000
    return f"{seconds:.2f} s" if seconds < 60 else _span(seconds)


@blp.app_template_filter("state_class")
def state_class(state: str | None) -> str:
    return STATE_CLASSES.get(state or "", "muted")


@blp.app_template_filter("schedule")
def describe_schedule(schedule: dict[str, Any] | None) -> str:
    """A schedule in a few words: `every 15 min (mon–fri)`, `daily at 06:00, 18:00`."""
    if not schedule:
        return "—"
    mode = schedule.get("mode")
    days = schedule.get("weekdays") or []
    on_days = f" on {', '.join(days)}" if days and set(days) != set(WEEKDAYS) else ""
    if mode == "interval":
        blackouts = schedule.get("blackout") or []
        quiet = ", ".join(f"{w['from']}–{w['to']}" for w in blackouts)
        return f"every {schedule.get('every_minutes')} min{on_days}" + (
            f", not {quiet}" if quiet else ""
        )
    if mode == "daily":
        return f"daily at {', '.join(schedule.get('times') or [])}{on_days}"
    if mode == "automatic":
        return (
            f"automatic (debounce {schedule.get('debounce_s')} s, at most "
            f"{schedule.get('max_batch')} events, wait ≤ {schedule.get('max_wait_s')} s)"
        )
    if mode == "as_needed":
        return "as needed (fired by its parent task)"
    if mode == "default":
        return "project default"
    return str(mode)


def progress_of(run: dict[str, Any]) -> dict[str, Any]:
    """The run's progress for the bar: percent (None while unknown), a label, and whether the
    run is over (the bar then stops polling)."""
    state = run["state"]
    progress = run.get("progress") or {}
    finished = RunState(state).finished
    percent: int | None = None
    label = state
    if state == RunState.SUCCEEDED.value:
        percent, label = 100, "succeeded"
    elif state in (RunState.QUEUED.value, RunState.WAITING.value):
        percent, label = 0, state
    elif progress:
        done, total = progress.get("done") or 0, progress.get("total")
        if total:
            percent = max(0, min(100, int(done * 100 / total)))
        stage = progress.get("stage") or ""
        label = f"{state}: {stage} {done}/{total}" if total else f"{state}: {stage} {done}"
    return {"state": state, "percent": percent, "label": label, "finished": finished}
