"""The records browser (filtered by named sets, each record's state per channel in colours) and
the issues page (grouped by pattern, as the troubleshoot view groups them)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from api import services
from api.dashboard import blp, forms, scope
from core.errors import Invalid
from core.models import ConnectionRole
from core.pipeline.changes import OPEN_STATES
from core.recordsets import RECORD_SETS, channel_states, select_records
from core.troubleshoot import troubleshoot

PAGE_SIZE = 50
ISSUES_SHOWN = 200
DATA_FIELDS_SHOWN = 4
GONE_SHOWN = 100
#: the highest page number asked for that is read as such (a larger one shows the last page)
MAX_PAGE = 100_000


def _channels(project_id: str) -> list[dict[str, Any]]:
    query = {"project_id": project_id, "role": ConnectionRole.CHANNEL.value}
    return list(services.store().connections.find(query).sort([("order", 1), ("_id", 1)]))


def gone_with_deletes(project_id: str, channels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Deletes still to be sent for records that left the project's database (the table above
    cannot show them: they have no record any more). Read by the (connection, state) index:
    the project's done changes are never scanned."""
    if not channels:
        return []
    store = services.store()
    query = {
        "connection_id": {"$in": [c["_id"] for c in channels]},
        "state": {"$in": [s.value for s in OPEN_STATES]},
        "op": "delete",
    }
    changes = list(store.changes.find(query).sort("_id", 1).limit(GONE_SHOWN))
    present = {
        r["key"]
        for r in store.records.find(
            {"_id": {"$in": [f"{project_id}:{c['key']}" for c in changes]}}, {"key": 1}
        )
    }
    return [c for c in changes if c["key"] not in present]


def summary(data: dict[str, Any]) -> str:
    """The record's first few fields, `title=Red shirt · price=19.90`."""
    shown = [f"{k}={v}" for k, v in list(data.items())[:DATA_FIELDS_SHOWN]]
    more = len(data) - DATA_FIELDS_SHOWN
    return " · ".join(shown) + (f" · +{more} more" if more > 0 else "")


@blp.route("/projects/<project_id>/records")
def records_page(project_id: str) -> Any:
    project = scope.project(project_id)
    store = services.store()
    sets = [s.strip() for s in request.args.getlist("set") if s.strip()]
    page, pages = 1, 1
    channels = _channels(project_id)
    rows: list[dict[str, Any]] = []
    total, exact = 0, True
    error = None
    try:
        selection = select_records(store, project, sets)
        page, _ = forms.page_of(request.args, MAX_PAGE * PAGE_SIZE, PAGE_SIZE)
        found = selection.page((page - 1) * PAGE_SIZE, PAGE_SIZE)
        page, pages = forms.page_of(request.args, found.total, PAGE_SIZE)
        if not found.records and found.total:  # past the last page: show the last one
            found = selection.page((page - 1) * PAGE_SIZE, PAGE_SIZE)
        total, exact = found.total, found.exact
        states = channel_states(store, channels, [r["key"] for r in found.records])
        rows = [
            {"record": r, "summary": summary(r.get("data") or {}), "states": states[r["key"]]}
            for r in found.records
        ]
    except Invalid as exc:
        error = exc.message
    page_html = render_template(
        "records.html",
        project=project,
        channels=channels,
        rows=rows,
        sets=sets,
        usage=RECORD_SETS.usage(),
        gone=[] if sets else gone_with_deletes(project_id, channels),
        names={c["_id"]: c.get("name") or c["_id"] for c in channels},
        total=total,
        exact=exact,
        page=page,
        pages=pages,
        error=error,
    )
    return page_html, 422 if error else 200


@blp.route("/projects/<project_id>/issues")
def issues_page(project_id: str) -> Any:
    project = scope.project(project_id)
    store = services.store()
    names = {
        c["_id"]: c.get("name") or c["_id"]
        for c in store.connections.find({"project_id": project_id}, {"name": 1})
    }
    issues = list(store.issues.find({"project_id": project_id}).sort("_id", 1).limit(ISSUES_SHOWN))
    return render_template(
        "issues.html",
        project=project,
        groups=troubleshoot(store, project_id),
        issues=issues,
        total=store.issues.count_documents({"project_id": project_id}),
        names=names,
    )
