"""A worker that stalls past its project lease (and resumes) cannot overwrite the work of the
run that took the project meanwhile: its writes carry a lower fencing token and are refused.

The stall is staged in-process: while the first run reads its source, a second run of the
project, holding a later lease, runs to its end. tests/faults/test_stalled_worker.py does the
same with a real worker process stopped by SIGSTOP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from marshmallow import Schema

from core import runs as runs_service
from core.config import Settings
from core.connections import create_connection
from core.jobs import create_job
from core.models import RunState, Trigger
from core.projects import create_project
from core.store import Store
from core.tenants import create_tenant
from plugins.base import Connector, Record
from tests.conftest import work_in_process
from tests.plugins.fakes import RecordingChannel, add_connectors
from worker import actors
from worker.actors import execute_run
from worker.middleware import Lease

pytestmark = pytest.mark.timeout(60)


class StallingSource(Connector):
    """A source that yields `rows` as they were when its read began, and calls `stall` (once)
    after the first record: what the rest of the farm does while this worker is stopped."""

    name = "stalling"
    settings_schema = Schema
    roles = frozenset({"source"})
    rows: ClassVar[list[Record]] = []
    stall: ClassVar[Callable[[], None] | None] = None

    @classmethod
    def example_settings(cls, workdir: Path) -> dict[str, Any]:
        return {}

    def read(self) -> Iterator[Record]:
        rows = list(type(self).rows)
        for number, row in enumerate(rows):
            stall = type(self).stall
            if number == 1 and stall is not None:
                type(self).stall = None
                stall()
            yield row


class Farm:
    """A project with the stalling source and a recording API channel; runs execute in this
    process under the fencing token the test gives them."""

    def __init__(self, store: Store, settings: Settings, broker: Any, mp: pytest.MonkeyPatch):
        add_connectors(mp, {"stalling": f"{__name__}:StallingSource"})
        add_connectors(mp, {"recording": "tests.plugins.fakes:RecordingChannel"})
        work_in_process(mp, store, settings, broker)
        self.store = store
        tenant, _ = create_tenant(store, "acme", plan="unlimited")
        self.project = create_project(store, tenant, {"name": "Shop"})
        create_connection(store, self.project, {"connector": "stalling", "role": "source"})
        create_connection(store, self.project, {"connector": "recording", "role": "channel"})
        self.job = create_job(store, tenant, self.project, {"kind": "sync"})
        self.next_fence = 100
        self.lease: Lease | None = None
        mp.setattr(actors, "current_lease", lambda: self.lease)

    def queue(self) -> str:
        run = runs_service.claim_run(self.store, self.job, Trigger.MANUAL)
        assert run is not None
        return str(run["_id"])

    def execute(self, run_id: str) -> None:
        """Deliver the run's message to a worker that just took the project's lease."""
        self.next_fence += 1
        self.lease = Lease(self.project["_id"], self.next_fence, f"{self.next_fence}:t")
        execute_run.fn(run_id)

    def records(self) -> dict[str, str]:
        found = self.store.records.find({"project_id": self.project["_id"]})
        return {d["key"]: d["data"]["price"] for d in found}


def catalog(price: str) -> list[Record]:
    return [{"sku": f"S-{n}", "price": price} for n in range(5)]


@pytest.fixture
def farm(store: Store, settings: Settings, broker: Any, monkeypatch: pytest.MonkeyPatch) -> Farm:
    return Farm(store, settings, broker, monkeypatch)


def test_a_stalled_runs_late_commit_is_refused_and_the_run_is_tried_again(farm: Farm) -> None:
    StallingSource.rows = catalog("1.00")
    stalled = farm.queue()
    overtaking: list[str] = []

    def meanwhile() -> None:
        # The stalled worker's lease lapsed; the catalog changed and another run took over.
        StallingSource.rows = catalog("2.00")
        overtaking.append(farm.queue())
        farm.execute(overtaking[0])

    StallingSource.stall = meanwhile
    with pytest.raises(runs_service.RunFencedOut):
        farm.execute(stalled)  # resumes reading the old catalog, then its writes are refused

    assert farm.records() == {f"S-{n}": "2.00" for n in range(5)}
    assert sorted((c.key, (c.data or {}).get("price")) for c in RecordingChannel.received) == [
        (f"S-{n}", "2.00") for n in range(5)
    ]
    overtaken = farm.store.runs.find_one({"_id": stalled})
    assert overtaken is not None and overtaken["state"] == "running"  # not finished by it
    assert [s["name"] for s in overtaken["stages"]] == ["import"]

    farm.execute(stalled)  # Dramatiq's retry: it starts over under a new lease

    done = farm.store.runs.find_one({"_id": stalled})
    assert done is not None and done["state"] == "succeeded" and done["attempts"] == 2
    assert farm.records() == {f"S-{n}": "2.00" for n in range(5)}
    assert len(RecordingChannel.received) == 5  # nothing was sent twice
    assert farm.store.changes.count_documents({"state": "done"}) == 5


def test_a_redelivered_run_owns_its_document_and_the_first_attempts_writes_are_refused(
    farm: Farm,
) -> None:
    run_id = farm.queue()
    first = runs_service.start_run(farm.store, run_id, worker="w1:1", fence=201)
    second = runs_service.start_run(farm.store, run_id, worker="w2:2", fence=202)
    assert first is not None and second is not None

    with pytest.raises(runs_service.RunFencedOut):
        runs_service.save_progress(farm.store, first, {"stage": "import", "done": 1})
    with pytest.raises(runs_service.RunFencedOut):
        runs_service.finish_run(farm.store, run_id, RunState.FAILED, fence=201)
    runs_service.save_progress(farm.store, second, {"stage": "import", "done": 3})
    runs_service.finish_run(farm.store, run_id, RunState.SUCCEEDED, fence=202)

    run = farm.store.runs.find_one({"_id": run_id})
    assert run is not None
    assert (run["state"], run["worker"], run["progress"]["done"]) == ("succeeded", "w2:2", 3)


def test_a_lease_granted_before_a_later_one_started_cannot_start_its_run(farm: Farm) -> None:
    later, earlier = farm.queue(), None
    assert runs_service.start_run(farm.store, later, fence=302) is not None
    earlier = farm.queue()

    with pytest.raises(runs_service.RunFencedOut):
        runs_service.start_run(farm.store, earlier, fence=301)

    run = farm.store.runs.find_one({"_id": earlier})
    assert run is not None and run["state"] == "queued"


def test_a_project_whose_stored_fence_outranks_redis_runs_again_after_one_refusal(
    farm: Farm, broker: Any
) -> None:
    """Redis lost its fencing counter and restarted it below the fence the store has seen (a
    host clock behind): the refused run lifts the counter, so its next lease outranks the
    stored fence and the run starts instead of being refused for ever."""
    from dramatiq import Message
    from dramatiq.broker import MessageProxy

    from tests.conftest import redis_client
    from worker.middleware import ProjectMutex, current_lease

    client = redis_client(13)
    mutex = ProjectMutex(client=client)
    broker.add_middleware(mutex)
    try:
        stored = 2**52  # above the tokens a restarted counter hands out (the clock in µs)
        farm.store.projects.update_one({"_id": farm.project["_id"]}, {"$set": {"fence": stored}})
        StallingSource.rows = catalog("9.00")
        run_id = farm.queue()
        with pytest.raises(runs_service.RunFencedOut):
            farm.execute(run_id)

        retry = MessageProxy(
            Message(
                queue_name="runs",
                actor_name="execute_run",
                args=(run_id,),
                kwargs={},
                options={"project_id": farm.project["_id"]},
            )
        )
        mutex.before_process_message(broker, retry)
        lease = current_lease()
        assert lease is not None and lease.fence > stored
        farm.lease = lease
        execute_run.fn(run_id)
        mutex.after_process_message(broker, retry)
    finally:
        mutex.after_worker_shutdown(broker, None)  # type: ignore[arg-type]
        client.flushdb()
        client.close()

    run = farm.store.runs.find_one({"_id": run_id})
    assert run is not None and run["state"] == "succeeded" and run["attempts"] >= 1
    assert farm.records() == {f"S-{n}": "9.00" for n in range(5)}
