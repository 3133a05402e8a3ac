"""A run's page: its stage timeline with timings and counts, a live progress bar, the error and
the issues it raised; and the small JSON answer the progress bar polls."""

from __future__ import annotations

from typing import Any

from flask import jsonify, render_template

from api import services
from api.dashboard import blp, scope
from api.dashboard.present import progress_of
from core.clock import now_ms

RUN_ISSUES_SHOWN = 100


def timeline(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Each stage with its duration and its share of the run's time (for the timeline bars)."""
    stages = run.get("stages") or []
    now = now_ms()
    spans = [
        max(0, (stage.get("finished_at") or now) - (stage.get("started_at") or now))
        for stage in stages
    ]
    longest = max(spans, default=0) or 1
    return [
        {**stage, "span_ms": span, "share_pct": max(1, round(span * 100 / longest))}
        for stage, span in zip(stages, spans, strict=True)
    ]


@blp.route("/runs/<run_id>")
def run_page(run_id: str) -> Any:
    run = scope.run(run_id)
    store = services.store()
    project = store.projects.find_one({"_id": run["project_id"]}) or {"_id": run["project_id"]}
    job = store.jobs.find_one({"_id": run["job_id"]})
    issues = list(
        store.issues.find({"project_id": run["project_id"], "run_id": run_id}).limit(
            RUN_ISSUES_SHOWN
        )
    )
    return render_template(
        "run.html",
        run=run,
        project=project,
        job=job,
        stages=timeline(run),
        progress=progress_of(run),
        issues=issues,
    )


@blp.route("/runs/<run_id>/progress")
def run_progress(run_id: str) -> Any:
    return jsonify(progress_of(scope.run(run_id)))
