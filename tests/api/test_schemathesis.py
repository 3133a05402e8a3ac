"""Every operation of `/api/v1/openapi.json`, fuzzed with schemathesis against the in-process
app: no input gets a 5xx, and every answer (status, content type, headers, body) is one the
document describes.

The app is the `app` fixture (mongomock, StubBroker, no Redis), called with a real tenant's
API key. A project with a feed source, a file channel, a job and a finished fetch (records,
changes, a run with stages and transitions) is seeded, and most examples have their ids swapped
for the seeded ones (see `_aim`), so the fuzzer reaches real objects as well as unknown ids.
Examples are bounded (15 per operation) and derandomized, so a run is repeatable and quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from dramatiq import Message
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.events import SIGNATURE_HEADER, signature
from core.store import Store
from tests.conftest import InlineWorker
from worker.actors import execute_run


def status_code_listed(ctx: Any, response: Any, case: Any) -> None:
    """Stricter than `status_code_conformance`, which any status passes through `default`:
    the status must be listed for the operation."""
    listed = set(case.operation.definition.raw["responses"])
    status = str(response.status_code)
    assert status in listed or f"{status[0]}XX" in listed, (
        f"{case.operation.label} answered {status}, which its responses do not list "
        f"({', '.join(sorted(listed))})"
    )


CHECKS = [
    not_a_server_error,
    status_code_listed,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(app: Any) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


class Seed:
    """Real objects of one tenant for the fuzzer to hit; made again when a DELETE took one."""

    def __init__(self, tenant: Any, store: Store, broker: Any, feed: Path) -> None:
        self.tenant, self.store, self.broker, self.feed = tenant, store, broker, feed
        self.ids: dict[str, str] = {}
        self.secrets: dict[str, str] = {}

    def ensure(self) -> dict[str, str]:
        if self.ids and all(
            self.store.db[collection].find_one({"_id": self.ids[name]})
            for name, collection in (
                ("project_id", "projects"),
                ("source_id", "connections"),
                ("channel_id", "connections"),
                ("job_id", "jobs"),
                ("run_id", "runs"),
            )
        ):
            return self.ids
        t = self.tenant
        pid = t.post("/projects/", {"name": "Seed"}).json["id"]
        source = t.post(
            f"/projects/{pid}/connections/",
            {"connector": "feed", "role": "source", "settings": {"url": str(self.feed)}},
        ).json["id"]
        channel = t.post(
            f"/projects/{pid}/connections/",
            {"connector": "file", "role": "channel", "auto_absorb": False},
        ).json["id"]
        job = t.post(f"/projects/{pid}/jobs/", {"kind": "sync"}).json["id"]
        run = t.post(f"/projects/{pid}/connections/{source}/fetch").json["id"]
        queue = self.broker.queues["runs"]
        while queue.qsize():
            execute_run.fn(*Message.decode(queue.get_nowait()).args)
        for cid in (source, channel):
            shown = t.get(f"/projects/{pid}/connections/{cid}").json
            self.secrets[cid] = shown["webhook_secret"]
        self.ids = {
            "project_id": pid,
            "source_id": source,
            "channel_id": channel,
            "job_id": job,
            "run_id": run,
        }
        return self.ids


@pytest.fixture
def seed(
    make_tenant: Any,
    store: Store,
    settings: Any,
    broker: Any,
    csv_feed: Path,
    inline_worker: InlineWorker,
) -> Seed:
    seeded = Seed(make_tenant("fuzz", plan="unlimited"), store, broker, csv_feed)
    seeded.ensure()
    return seeded


def _aim(case: Any, data: Any, seed: Seed) -> None:
    """Point most examples at the seeded objects: every path id seeded, some of them, or none
    (unknown ids); likewise `channel` and `job_id` in bodies and queries, and a real connector
    name. A webhook to the seeded objects is signed with the connection's secret ("mixed" ones
    are not)."""
    ids = seed.ensure()
    aim = data.draw(st.sampled_from(["seeded", "mixed", "generated"]), label="aim")
    if aim == "generated":
        return

    def keep_generated(name: str) -> bool:
        return aim == "mixed" and data.draw(st.booleans(), label=f"keep {name}")

    def seeded(name: str) -> str | None:
        if name == "connection_id":
            return data.draw(
                st.sampled_from([ids["source_id"], ids["channel_id"]]), label="connection"
            )
        return ids.get(name)

    for name in list(case.path_parameters or {}):
        value = seeded(name)
        if value is not None and not keep_generated(name):
            case.path_parameters[name] = value
    body = case.body if isinstance(case.body, dict) else {}
    query = case.query if isinstance(case.query, dict) else {}
    for where, name, value in (
        (body, "channel", ids["channel_id"]),
        (body, "connector", data.draw(st.sampled_from(["file", "feed"]), label="connector")),
        (body, "connection_id", ids["source_id"]),
        (query, "channel", ids["channel_id"]),
        (query, "job_id", ids["job_id"]),
    ):
        if name in where and not keep_generated(name):
            where[name] = value
    secret = seed.secrets.get((case.path_parameters or {}).get("connection_id", ""))
    if case.path.startswith("/api/v1/events/") and secret and aim == "seeded":
        raw = getattr(case.body, "data", case.body)
        raw = raw.encode() if isinstance(raw, str) else raw if isinstance(raw, bytes) else b""
        case.body = raw
        case.headers = {**(case.headers or {}), SIGNATURE_HEADER: signature(secret, raw)}


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],  # a 2-core CI machine is slow; no matter
)
def test_every_operation_answers_as_documented(case: Any, data: Any, seed: Seed) -> None:
    _aim(case, data, seed)
    # the tenant's real key, not one the fuzzer made up (webhooks ignore it)
    case.headers = {**(case.headers or {}), **seed.tenant.headers}
    case.call_and_validate(checks=CHECKS)
