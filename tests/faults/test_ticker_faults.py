"""The ticker under faults: clock jumps on its host, and leaders killed over and over.

Both drive the ticker with a clock of the test's own, so a thousand scheduled minutes pass in
seconds; fires are counted per (job, slot) from the runs they stored.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker

from core.clock import to_ms
from core.jobs import create_job
from core.models import RunState
from core.projects import create_project
from core.runs import finish_run
from core.store import Store
from core.tenants import create_tenant
from cron.ticker import Ticker
from tests.conftest import redis_client

REDIS_DB = 1


class Clock:
    """A clock the test sets; shared by every ticker, as the host's clock would be."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self.now = moment


def _project_with_minutely_jobs(store: Store, count: int) -> list[dict[str, Any]]:
    tenant, _ = create_tenant(store, "acme", plan="unlimited")
    project = create_project(store, tenant, {"name": "Shop", "timezone": "Europe/Berlin"})
    schedule = {"mode": "interval", "every_minutes": 1}
    return [
        create_job(store, tenant, project, {"kind": "sync", "schedule": schedule})
        for _ in range(count)
    ]


def _finish_queued_runs(store: Store) -> None:
    """The workers' part: every run its job queued ends, so the next slot is not coalesced.
    (A run a ticker stored but was killed before its job took it stays behind, queued: the
    leading ticker's resend deletes it, see core/runs.py.)"""
    for job in list(store.jobs.find({}, {"pending_run_id": 1})):
        if job.get("pending_run_id"):
            finish_run(store, job["pending_run_id"], RunState.SUCCEEDED)


def _fires(store: Store) -> Counter[tuple[str, int]]:
    """Fires per (job, slot): the runs that ran."""
    found = store.runs.find({"state": RunState.SUCCEEDED.value}, {"job_id": 1, "slot": 1})
    return Counter((r["job_id"], r["slot"]) for r in found)


@pytest.mark.timeout(30)
def test_clock_jumps_on_the_tickers_host_never_fire_a_slot_twice(
    store: Store, broker: StubBroker
) -> None:
    redis = redis_client(REDIS_DB)
    (job,) = _project_with_minutely_jobs(store, 1)
    first_slot = datetime.fromtimestamp(job["next_fire_at"] / 1000).astimezone()
    clock = Clock(first_slot)
    ticker = Ticker(store=store, client=redis, broker=broker, clock=clock)
    fired: list[int] = []

    def at(moment: datetime) -> None:
        clock.set(moment)
        fired.append(ticker.tick())
        _finish_queued_runs(store)

    at(first_slot)  # due: fires
    at(first_slot - timedelta(minutes=30))  # jumps back: nothing is due
    at(first_slot + timedelta(seconds=30))  # back again, same slot: not again
    at(first_slot + timedelta(minutes=1))  # the next slot: fires
    at(first_slot - timedelta(hours=5))  # far back
    at(first_slot + timedelta(minutes=1, seconds=59))  # catches up: nothing new
    at(first_slot + timedelta(hours=2, seconds=5))  # jumps forward: the overdue job fires once
    at(first_slot + timedelta(hours=2, seconds=10))  # and not again for the same minute

    assert fired == [1, 0, 0, 1, 0, 0, 1, 0]
    fires = _fires(store)
    assert set(fires.values()) == {1}
    assert sorted(slot for _, slot in fires) == [
        to_ms(first_slot),
        to_ms(first_slot + timedelta(minutes=1)),
        to_ms(first_slot + timedelta(minutes=2)),  # the slot the overdue fire was owed
    ]
    after = store.jobs.find_one({"_id": job["_id"]})
    assert after is not None
    assert after["next_fire_at"] == to_ms(first_slot + timedelta(hours=2, minutes=1))
    assert after.get("coalesced_fires", 0) == 0


class _Killed(BaseException):
    """Raised inside a ticker's thread at its next database call: a crash at any point."""


class _KillableCollection:
    def __init__(self, collection: Any, killed: threading.Event) -> None:
        self._collection = collection
        self._killed = killed

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._killed.is_set():
                raise _Killed
            return attr(*args, **kwargs)

        return call


class _Process:
    """A ticker in a thread that can be killed at any point (no lease release, no cleanup)."""

    def __init__(self, name: str, store: Store, clock: Clock, broker: StubBroker) -> None:
        self.killed = threading.Event()
        killable = Store(store.db)
        for attr in ("jobs", "runs", "projects", "connections", "changes"):
            setattr(killable, attr, _KillableCollection(getattr(store, attr), self.killed))
        self.ticker = Ticker(
            store=killable,
            client=redis_client_no_flush(),
            broker=broker,
            lease_s=0.6,
            poll_s=0.1,
            holder=name,
            clock=clock,
        )
        self.ticker.lease.release = lambda: None  # type: ignore[method-assign]  # a crash
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with contextlib.suppress(_Killed):
            self.ticker.run_forever()

    def kill(self) -> None:
        self.killed.set()
        self.ticker.stopping.set()
        self.thread.join(10)


def redis_client_no_flush() -> Any:
    import redis as redis_lib

    from tests.conftest import redis_url

    return redis_lib.Redis.from_url(redis_url(REDIS_DB))


@pytest.fixture
def tickers(nx_store: Store) -> Iterator[Callable[..., _Process]]:
    redis_client(REDIS_DB)
    started: list[_Process] = []

    def start(name: str, clock: Clock, broker: StubBroker) -> _Process:
        started.append(_Process(name, nx_store, clock, broker))
        return started[-1]

    try:
        yield start
    finally:
        for process in started:
            process.kill()
        redis_client(REDIS_DB)


def _wait(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.timeout(120)
def test_three_tickers_with_leaders_killed_over_and_over_fire_each_slot_exactly_once(
    nx_store: Store, tickers: Callable[..., _Process]
) -> None:
    jobs, minutes = 50, 21
    _project_with_minutely_jobs(nx_store, jobs)
    first_slot = min(j["next_fire_at"] for j in nx_store.jobs.find({}, {"next_fire_at": 1}))
    clock = Clock(datetime.fromtimestamp(first_slot / 1000).astimezone() - timedelta(seconds=1))
    broker = StubBroker()
    broker.declare_queue("runs")
    alive = {n: tickers(f"ticker-{n}", clock, broker) for n in range(3)}
    chance = random.Random(6)
    kills = 0

    for minute in range(minutes):
        clock.set(clock() + timedelta(minutes=1))
        now_ms = to_ms(clock())
        if minute % 2 == 1:  # kill the leader while it fires this minute's slots
            time.sleep(chance.uniform(0, 0.05))
            holder = next(iter(alive.values())).ticker.lease.current_leader()
            victim = next((n for n, p in alive.items() if p.ticker.lease.token == holder), None)
            if victim is not None:
                alive.pop(victim).kill()
                kills += 1
                replacement = max(alive) + 1 if alive else victim + 3
                alive[replacement] = tickers(f"ticker-{replacement}", clock, broker)
        due = {"next_fire_at": {"$lte": now_ms}}
        _wait(lambda due=due: nx_store.jobs.count_documents(due) == 0, 20)  # type: ignore[misc]
        _finish_queued_runs(nx_store)

    fires = _fires(nx_store)
    print(f"{sum(fires.values())} fires over {minutes} minutes of {jobs} jobs; {kills} kills")
    assert kills >= 8
    assert sum(fires.values()) >= 1000
    assert set(fires.values()) == {1}, "a slot fired twice"
    expected = {first_slot + 60_000 * m for m in range(minutes)}
    for job in nx_store.jobs.find({}, {"_id": 1, "coalesced_fires": 1}):
        assert {slot for (jid, slot) in fires if jid == job["_id"]} == expected, "a slot missed"
        assert job.get("coalesced_fires", 0) == 0
    # A leader killed between claiming its batch of due jobs (all 50 here) and sending their
    # runs leaves at most that batch unsent, for the next leader to send as it takes over
    # (tests/cron/test_ticker_bulk.py); here the runs are finished first.
    sent = {Message.decode(m).args[0] for m in list(broker.queues["runs"].queue)}
    assert len({r["_id"] for r in nx_store.runs.find({}, {"_id": 1})} - sent) <= kills * jobs
