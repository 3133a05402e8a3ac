"""Tenant isolation, for every operation of `/api/v1/openapi.json`.

Tenant A seeds a full set of objects (a project with a feed source and a file channel, a sync
job, a finished fetch run with its records and changes, a stopped change with its issue, a
received webhook event). Tenant B, with a valid key of its own and a project and channel of its
own, then calls every operation of the OpenAPI document with a valid body:

- `theirs`: A's ids everywhere (path, body, query). An operation with a path id answers 404,
  exactly like an unknown id; one without (`GET/POST /projects/`) shows and touches only B's.
- `mixed`: B's own project id with A's other ids (connection, job, channel in a body or query).
  The answer is the one an unknown id gets (status and body, ids aside).
- `own`: B's own path ids with A's ids in the body or query, likewise answered as unknown ids.

After each call every stored document that is not B's is unchanged, nothing is queued, and no
answer carries A's data or secrets.

The webhook `POST /events/{pid}/{cid}` carries no API key: it is authenticated by an HMAC of the
body keyed with the connection's `webhook_secret`, and the ids in its URL are not secret (they
are the connection's `webhook_url`). B does not know A's secret, so it answers 401 whatever key
or signature B sends (B's own secret included), and 404 when B pairs its own signed connection
with A's project or A's connection with its own project: nothing is stored either way.

The table `OPERATIONS` names each operation's body and expected answers; `test_the_table_covers
_every_documented_operation` fails when the document gains (or loses) an operation, so a new
endpoint cannot go untested. `test_the_owner_succeeds_with_the_same_request` sends each request
as A to prove its body and ids are valid: a 404 for B is isolation, not a validation error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.events import SIGNATURE_HEADER, signature
from core.issues import record_issues
from core.store import Store
from tests.conftest import InlineWorker

PREFIX = "/api/v1"
PATH_IDS = {"project_id", "connection_id", "job_id", "run_id"}
DOCUMENTATION_PATHS = {"/openapi.json", "/docs"}  # not in the document today; never cases
A_NAME = "Alpha private project"
EVENT_BODY = b'{"changed": ["A-1"]}'

Ids = dict[str, str]


@dataclass(frozen=True)
class Op:
    """How to call one operation. `connection` says which connection fills
    `{connection_id}`; `body` and `query` are made from the ids in use; `owner` is the status
    the owner gets, `other` the one B gets with A's ids; `check` looks further at B's answer."""

    owner: int
    other: int = 404
    connection: str = "source_id"
    body: Callable[[Ids], Any] | None = None
    query: Callable[[Ids], dict[str, str]] | None = None
    check: Callable[[Any, Seeded], None] | None = None


def _lists_only_own_projects(response: Any, seeded: Seeded) -> None:
    shown = {p["id"] for p in response.json}
    assert seeded.a["project_id"] not in shown
    assert shown == {seeded.b["project_id"]}


def _creates_in_own_tenant(response: Any, seeded: Seeded) -> None:
    stored = seeded.store.projects.find_one({"_id": response.json["id"]})
    assert stored is not None and stored["tenant_id"] == seeded.tenant_b.id


def _name(ids: Ids) -> dict[str, Any]:
    return {"name": "x"}


def _pick(ids: Ids) -> dict[str, Any]:
    return {"channel": ids["channel_id"], "keys": ["A-1", "A-2"]}


OPERATIONS: dict[str, Op] = {
    "GET /projects/": Op(owner=200, other=200, check=_lists_only_own_projects),
    "POST /projects/": Op(owner=201, other=201, body=_name, check=_creates_in_own_tenant),
    "GET /projects/{project_id}": Op(owner=200),
    "PATCH /projects/{project_id}": Op(owner=200, body=_name),
    "DELETE /projects/{project_id}": Op(owner=204),
    "POST /projects/{project_id}/pause": Op(owner=200),
    "POST /projects/{project_id}/resume": Op(owner=200),
    "GET /projects/{project_id}/connections/": Op(owner=200),
    "POST /projects/{project_id}/connections/": Op(
        owner=201, body=lambda ids: {"connector": "file", "role": "channel"}
    ),
    "GET /projects/{project_id}/connections/{connection_id}": Op(owner=200),
    "PATCH /projects/{project_id}/connections/{connection_id}": Op(owner=200, body=_name),
    # the channel: the source is used by its fetch job, so its owner could not delete it
    "DELETE /projects/{project_id}/connections/{connection_id}": Op(
        owner=204, connection="channel_id"
    ),
    "POST /projects/{project_id}/connections/{connection_id}/fetch": Op(owner=202),
    "POST /projects/{project_id}/connections/{connection_id}/send": Op(
        owner=202, connection="channel_id"
    ),
    "POST /projects/{project_id}/connections/{connection_id}/sync": Op(
        owner=202, connection="channel_id"
    ),
    "POST /projects/{project_id}/connections/{connection_id}/reset-clocks": Op(owner=200),
    "GET /projects/{project_id}/jobs/": Op(owner=200),
    "POST /projects/{project_id}/jobs/": Op(
        owner=201, body=lambda ids: {"kind": "fetch", "connection_id": ids["source_id"]}
    ),
    "GET /projects/{project_id}/jobs/{job_id}": Op(owner=200),
    "PATCH /projects/{project_id}/jobs/{job_id}": Op(owner=200, body=_name),
    "DELETE /projects/{project_id}/jobs/{job_id}": Op(owner=204),
    "POST /projects/{project_id}/jobs/{job_id}/runs": Op(owner=202),
    "GET /projects/{project_id}/runs": Op(owner=200, query=lambda ids: {"job_id": ids["job_id"]}),
    "GET /runs/{run_id}": Op(owner=200),
    "GET /projects/{project_id}/records": Op(owner=200),
    "GET /projects/{project_id}/orders": Op(owner=200),
    "GET /projects/{project_id}/changes": Op(
        owner=200, query=lambda ids: {"channel": ids["channel_id"]}
    ),
    "POST /projects/{project_id}/changes/approve": Op(owner=200, body=_pick),
    "POST /projects/{project_id}/changes/reset": Op(owner=200, body=_pick),
    "GET /projects/{project_id}/troubleshoot": Op(owner=200),
    "GET /projects/{project_id}/issues": Op(owner=200),
    "GET /projects/{project_id}/stats": Op(owner=200),
    # signed, not keyed: see the module's docstring and `test_the_webhook_needs_the_secret`
    "POST /events/{project_id}/{connection_id}": Op(owner=202, other=401),
}
WEBHOOK = "POST /events/{project_id}/{connection_id}"

UNKNOWN: Ids = {
    "project_id": "prj_0000000000000000",
    "source_id": "con_0000000000000000",
    "channel_id": "con_1111111111111111",
    "job_id": "job_0000000000000000",
    "run_id": "run_0000000000000000",
}


@dataclass
class Seeded:
    store: Store
    broker: Any
    tenant_a: Any
    tenant_b: Any
    a: Ids
    b: Ids
    secrets: dict[str, str]  # connection id -> webhook secret, both tenants'
    a_markers: list[str]  # strings only A's data holds; no answer to B may carry one


@pytest.fixture
def seeded(
    make_tenant: Any,
    store: Store,
    settings: Any,
    broker: Any,
    csv_feed: Path,
    inline_worker: InlineWorker,
) -> Seeded:
    a = make_tenant("alpha", plan="unlimited")
    pid = a.post("/projects/", {"name": A_NAME}).json["id"]
    source = a.post(
        f"/projects/{pid}/connections/",
        {"connector": "feed", "role": "source", "settings": {"url": str(csv_feed)}},
    ).json["id"]
    channel = a.post(
        f"/projects/{pid}/connections/",
        {"connector": "file", "role": "channel", "auto_absorb": False},
    ).json["id"]
    job = a.post(f"/projects/{pid}/jobs/", {"kind": "sync"}).json["id"]
    run = a.post(f"/projects/{pid}/connections/{source}/fetch").json["id"]
    inline_worker.drain()
    # A-1 waits for approval (auto_absorb off); A-2 is stopped, with an issue for a person
    assert store.changes.find_one({"_id": f"{channel}:A-1"})["state"] == "unapproved"
    store.changes.update_one({"_id": f"{channel}:A-2"}, {"$set": {"state": "stopped"}})
    record_issues(store, pid, channel, [("A-2", "E42", "price rejected")], needs_person={"A-2"})
    secrets = {
        cid: a.get(f"/projects/{pid}/connections/{cid}").json["webhook_secret"]
        for cid in (source, channel)
    }
    accepted = a.client.post(
        f"{PREFIX}/events/{pid}/{source}",
        data=EVENT_BODY,
        content_type="application/json",
        headers={SIGNATURE_HEADER: signature(secrets[source], EVENT_BODY)},
    )
    assert accepted.status_code == 202, accepted.json

    b = make_tenant("bravo", plan="unlimited")
    b_pid = b.post("/projects/", {"name": "Bravo"}).json["id"]
    b_channel = b.post(
        f"/projects/{b_pid}/connections/", {"connector": "file", "role": "channel"}
    ).json
    secrets[b_channel["id"]] = b_channel["webhook_secret"]
    b_job = b.post(f"/projects/{b_pid}/jobs/", {"kind": "sync"}).json["id"]

    connections = list(store.connections.find({"project_id": pid}))
    markers = [A_NAME, "Red shirt", "Blue shirt", "price rejected"]
    markers += [c["export_token"] for c in connections] + [secrets[source], secrets[channel]]
    return Seeded(
        store=store,
        broker=broker,
        tenant_a=a,
        tenant_b=b,
        a={
            "project_id": pid,
            "source_id": source,
            "channel_id": channel,
            "job_id": job,
            "run_id": run,
        },
        b={
            "project_id": b_pid,
            "source_id": b_channel["id"],  # B has no source; its channel stands in
            "channel_id": b_channel["id"],
            "job_id": b_job,
            "run_id": UNKNOWN["run_id"],
        },
        secrets=secrets,
        a_markers=markers,
    )


def _document_operations(client: Any) -> set[str]:
    document = client.get(f"{PREFIX}/openapi.json").json
    found = set()
    for path, item in document["paths"].items():
        short = path.removeprefix(PREFIX)
        if short in DOCUMENTATION_PATHS:
            continue
        for method in item:
            if method in ("get", "put", "post", "patch", "delete", "head", "options", "trace"):
                found.add(f"{method.upper()} {short}")
    return found


def test_the_table_covers_every_documented_operation(client: Any) -> None:
    documented = _document_operations(client)
    new = sorted(documented - OPERATIONS.keys())
    gone = sorted(OPERATIONS.keys() - documented)
    assert not new, (
        f"operations without a tenant-isolation case: {new}; add each to OPERATIONS in "
        f"{__file__} with a valid body"
    )
    assert not gone, f"OPERATIONS names operations the document no longer has: {gone}"
    for operation in documented:
        names = {part[1:-1] for part in operation.split("/") if part.startswith("{")}
        assert names <= PATH_IDS, f"{operation}: path ids this test cannot fill: {names}"


def _ids_for(op: Op, ids: Ids) -> dict[str, str]:
    return {**ids, "connection_id": ids[op.connection]}


def _call(
    tenant: Any, operation: str, op: Op, path_ids: Ids, ref_ids: Ids, secrets: dict[str, str]
) -> Any:
    """Call `operation` as `tenant`: path ids from `path_ids`, body and query from `ref_ids`.
    The webhook is signed with the secret `tenant` knows for the connection in its path
    (`secrets`: its own connections' only)."""
    method, template = operation.split(" ", 1)
    path = PREFIX + template.format(**_ids_for(op, path_ids))
    if operation == WEBHOOK:
        secret = secrets.get(path_ids[op.connection], "a guess")
        headers = {**tenant.headers, SIGNATURE_HEADER: signature(secret, EVENT_BODY)}
        return tenant.client.post(
            path, data=EVENT_BODY, content_type="application/json", headers=headers
        )
    kwargs: dict[str, Any] = {"headers": tenant.headers}
    if op.body is not None:
        kwargs["json"] = op.body(ref_ids)
    if op.query is not None:
        kwargs["query_string"] = op.query(ref_ids)
    return tenant.client.open(path, method=method, **kwargs)


def _snapshot(seeded: Seeded) -> dict[str, dict[Any, Any]]:
    """Every stored document that is not B's, by collection and id."""
    db = seeded.store.db
    b_projects = {p["_id"] for p in db.projects.find({"tenant_id": seeded.tenant_b.id})}
    b_projects.add(seeded.b["project_id"])  # B may have deleted its own project
    b_ids = {seeded.tenant_b.id} | b_projects

    def b_owns(doc: dict[str, Any]) -> bool:
        return (
            doc["_id"] in b_ids
            or doc.get("tenant_id") == seeded.tenant_b.id
            or doc.get("project_id") in b_projects
        )

    return {
        name: {doc["_id"]: doc for doc in db[name].find() if not b_owns(doc)}
        for name in sorted(db.list_collection_names())
    }


def _changed(before: dict[str, dict[Any, Any]], after: dict[str, dict[Any, Any]]) -> list[str]:
    differences = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name, {}), after.get(name, {})
        for doc_id in sorted(old.keys() | new.keys(), key=str):
            if old.get(doc_id) != new.get(doc_id):
                differences.append(f"{name}/{doc_id}: {old.get(doc_id)} -> {new.get(doc_id)}")
    return differences


def _shape(response: Any, ref_ids: Ids, path_ids: Ids) -> tuple[int, Any]:
    """Status and body with the ids in use replaced by their role, to compare answers."""
    names = {value: f"<{name} in body or query>" for name, value in ref_ids.items()}
    names.update({value: f"<{name} in path>" for name, value in path_ids.items()})
    text = response.get_data(as_text=True)
    for value in sorted(names, key=len, reverse=True):
        text = text.replace(value, names[value])
    try:
        return response.status_code, json.loads(text)
    except ValueError:
        return response.status_code, text


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_another_tenants_objects_answer_404_and_never_change(
    operation: str, seeded: Seeded
) -> None:
    op = OPERATIONS[operation]
    b, a = seeded.tenant_b, seeded.a
    b_secrets = {seeded.b["channel_id"]: seeded.secrets[seeded.b["channel_id"]]}
    queue = seeded.broker.queues["runs"]

    def guarded(variant: str, path_ids: Ids, ref_ids: Ids) -> Any:
        """B's call, checked: nothing not B's changed, nothing queued, nothing of A's shown."""
        label = f"{operation} as another tenant ({variant})"
        before, queued = _snapshot(seeded), queue.qsize()
        response = _call(b, operation, op, path_ids, ref_ids, b_secrets)
        changed = _changed(before, _snapshot(seeded))
        assert not changed, f"{label} changed the first tenant's documents:\n" + "\n".join(changed)
        assert queue.qsize() == queued, f"{label} queued a run"
        text = response.get_data(as_text=True)
        leaked = [marker for marker in seeded.a_markers if marker in text]
        assert not leaked, f"{label} answered with the first tenant's data: {leaked}"
        return response

    # theirs: A's ids everywhere
    theirs = guarded("theirs", a, a)
    assert theirs.status_code == op.other, (
        f"{operation} with the first tenant's ids answered {theirs.status_code}, "
        f"not {op.other}: {theirs.get_data(as_text=True)[:300]}"
    )
    if op.check is not None:
        op.check(theirs, seeded)

    def like_unknown(variant: str, path_ids: Ids, unknown_path_ids: Ids) -> None:
        """A's ids in body and query (and some in the path) answer like made-up ones."""
        got = guarded(variant, path_ids, a)
        expected = _call(b, operation, op, unknown_path_ids, UNKNOWN, b_secrets)
        assert _shape(got, a, path_ids) == _shape(expected, UNKNOWN, unknown_path_ids), (
            f"{operation} ({variant}) answers the first tenant's ids unlike unknown ones: "
            f"{got.status_code} {got.get_data(as_text=True)[:300]} vs {expected.status_code} "
            f"{expected.get_data(as_text=True)[:300]}"
        )

    template = operation.split(" ", 1)[1]
    in_path = {part[1:-1] for part in template.split("/") if part.startswith("{")}
    has_refs = _refs(op, a) != _refs(op, UNKNOWN)
    own_project = {"project_id": seeded.b["project_id"]}
    if "project_id" in in_path and (in_path - {"project_id"} or has_refs):
        # mixed: B's project with A's connection or job in the path, A's ids in body and query
        like_unknown("mixed", {**a, **own_project}, {**UNKNOWN, **own_project})
    if "project_id" in in_path and has_refs:
        # own: B's path ids, A's ids in body and query
        like_unknown("own", seeded.b, seeded.b)


def _refs(op: Op, ids: Ids) -> tuple[Any, Any]:
    return (
        op.body(ids) if op.body is not None else None,
        op.query(ids) if op.query is not None else None,
    )


def test_the_webhook_needs_the_secret(seeded: Seeded) -> None:
    """Whatever B signs with, an event for A's connection is refused and nothing stored."""
    b, a = seeded.tenant_b, seeded.a
    b_channel = seeded.b["channel_id"]
    b_secret = seeded.secrets[b_channel]
    attempts = [
        # (project, connection, signature, expected status)
        (a["project_id"], a["source_id"], None, 401),
        (a["project_id"], a["source_id"], signature(b_secret, EVENT_BODY), 401),
        (a["project_id"], a["channel_id"], signature("a guess", EVENT_BODY), 401),
        (a["project_id"], b_channel, signature(b_secret, EVENT_BODY), 404),
        (seeded.b["project_id"], a["source_id"], signature(b_secret, EVENT_BODY), 404),
    ]
    for pid, cid, signed, status in attempts:
        before = _snapshot(seeded)
        headers = {**b.headers, **({SIGNATURE_HEADER: signed} if signed else {})}
        response = b.client.post(
            f"{PREFIX}/events/{pid}/{cid}",
            data=EVENT_BODY,
            content_type="application/json",
            headers=headers,
        )
        assert response.status_code == status, (pid, cid, signed, response.json)
        assert not _changed(before, _snapshot(seeded)), (pid, cid, signed)
        assert seeded.store.events.count_documents({"project_id": seeded.b["project_id"]}) == 0


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_the_owner_succeeds_with_the_same_request(operation: str, seeded: Seeded) -> None:
    """The same request as A, on A's objects, is valid: B's 404 is not a validation error."""
    op = OPERATIONS[operation]
    response = _call(seeded.tenant_a, operation, op, seeded.a, seeded.a, seeded.secrets)
    assert response.status_code == op.owner, (
        f"{operation} as its owner answered {response.status_code}, not {op.owner}: "
        f"{response.get_data(as_text=True)[:300]}"
    )
