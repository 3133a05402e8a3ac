"""ProjectMutex against real Redis: db 12 holds the broker's queues, db 13 the mutex."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq import Message, Worker
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, SkipMessage
from redis.backoff import NoBackoff
from redis.retry import Retry

from worker.middleware import ProjectMutex

REDIS_URL = os.environ.get("SYNCFARM_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
BROKER_DB = 12
MUTEX_DB = 13


@pytest.fixture
def mutex_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(f"{REDIS_URL}/{MUTEX_DB}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def redis_broker() -> Iterator[RedisBroker]:
    broker = RedisBroker(url=f"{REDIS_URL}/{BROKER_DB}")
    broker.client.flushdb()
    broker.add_middleware(CurrentMessage())
    yield broker
    broker.client.flushdb()
    broker.close()


@pytest.fixture
def make_mutex(mutex_client: redis.Redis) -> Iterator[Callable[..., ProjectMutex]]:
    made: list[ProjectMutex] = []

    def make(**options: Any) -> ProjectMutex:
        options.setdefault("client", mutex_client)
        made.append(ProjectMutex(**options))
        return made[-1]

    yield make
    for mutex in made:
        mutex.after_worker_shutdown(None, None)  # type: ignore[arg-type]


@contextmanager
def running_worker(broker: RedisBroker, *, threads: int) -> Iterator[Worker]:
    # Consumers poll every 100 ms at most, as the worker process is configured to.
    worker = Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=10_000)


def wait_until(condition: Callable[[], bool], *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class Runs:
    """An actor's runs as (name, start, end) on the monotonic clock, with their retry counts."""

    def __init__(self) -> None:
        self.done: list[tuple[str, float, float]] = []
        self.started: dict[str, float] = {}
        self.retries: list[int] = []

    def work(self, name: str, seconds: float) -> None:
        start = self.started[name] = time.monotonic()
        message = CurrentMessage.get_current_message()
        self.retries.append(message.options.get("retries", 0) if message else -1)
        time.sleep(seconds)
        self.done.append((name, start, time.monotonic()))

    def intervals(self) -> list[tuple[float, float]]:
        return sorted((start, end) for _, start, end in self.done)


def declare_run_job(broker: RedisBroker, runs: Runs) -> dramatiq.Actor[Any, Any]:
    @dramatiq.actor(broker=broker)
    def run_job(name: str, seconds: float) -> None:
        runs.work(name, seconds)

    return run_job


def message_for(project_id: str) -> MessageProxy:
    message: Message[Any] = Message(
        queue_name="default",
        actor_name="run_job",
        args=("run", 0.0),
        kwargs={},
        options={"project_id": project_id},
    )
    return MessageProxy(message)


def unreachable_redis() -> redis.Redis:
    # Without redis-py's default retries, which back off for seconds.
    return redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))


def next_enqueued(broker: RedisBroker) -> MessageProxy:
    consumer = broker.consume("default", timeout=100)
    try:
        deadline = time.monotonic() + 5
        while (message := next(consumer)) is None:
            assert time.monotonic() < deadline, "nothing was enqueued"
        return message
    finally:
        consumer.close()


def test_runs_of_one_project_never_overlap(redis_broker, make_mutex):
    waits: list[Message[Any]] = []
    redis_broker.add_middleware(make_mutex(on_wait=waits.append))
    runs = Runs()
    run_job = declare_run_job(redis_broker, runs)

    with running_worker(redis_broker, threads=4):
        for n in range(5):
            run_job.send_with_options(args=(f"run-{n}", 0.3), project_id="A")
        wait_until(lambda: len(runs.done) == 5, timeout_s=10)

    assert sorted(name for name, _, _ in runs.done) == [f"run-{n}" for n in range(5)]
    intervals = runs.intervals()
    assert all(end <= next_start for (_, end), (next_start, _) in pairwise(intervals))
    assert runs.retries == [0] * 5
    assert waits


def test_runs_of_different_projects_run_in_parallel(redis_broker, make_mutex):
    redis_broker.add_middleware(make_mutex())
    runs = Runs()
    run_job = declare_run_job(redis_broker, runs)

    with running_worker(redis_broker, threads=2):
        run_job.send_with_options(args=("a", 0.5), project_id="A")
        run_job.send_with_options(args=("b", 0.5), project_id="B")
        wait_until(lambda: len(runs.done) == 2, timeout_s=5)

    (a_start, a_end), (b_start, b_end) = runs.intervals()
    assert b_start < a_end


def test_a_waiting_run_starts_within_a_second_of_the_holder_finishing(redis_broker, make_mutex):
    redis_broker.add_middleware(make_mutex())
    runs = Runs()
    run_job = declare_run_job(redis_broker, runs)

    with running_worker(redis_broker, threads=2):
        run_job.send_with_options(args=("first", 0.3), project_id="A")
        run_job.send_with_options(args=("second", 0.3), project_id="A")
        wait_until(lambda: len(runs.done) == 2, timeout_s=5)

    (_, first_end), (second_start, _) = runs.intervals()
    assert 0 <= second_start - first_end < 1.0


def test_a_lease_is_renewed_while_the_run_works(redis_broker, make_mutex):
    redis_broker.add_middleware(make_mutex(lease_ttl_s=1.0, sweep_interval_s=0.2))
    runs = Runs()
    run_job = declare_run_job(redis_broker, runs)

    with running_worker(redis_broker, threads=2):
        run_job.send_with_options(args=("long", 2.5), project_id="A")
        wait_until(lambda: "long" in runs.started, timeout_s=5)
        run_job.send_with_options(args=("next", 0.0), project_id="A")
        wait_until(lambda: len(runs.done) == 2, timeout_s=8)

    assert runs.started["next"] >= dict((n, e) for n, _, e in runs.done)["long"]


def test_a_dead_holders_lease_expires_and_the_waiter_starts(redis_broker, make_mutex, mutex_client):
    waits: list[Message[Any]] = []
    redis_broker.add_middleware(make_mutex(on_wait=waits.append))
    runs = Runs()
    run_job = declare_run_job(redis_broker, runs)
    mutex_client.set("syncfarm:lock:A", "a-worker-that-was-killed", px=1500)
    expires_at = time.monotonic() + 1.5

    with running_worker(redis_broker, threads=1):
        run_job.send_with_options(args=("waiter", 0.0), project_id="A")
        wait_until(lambda: bool(waits), timeout_s=2)
        wait_until(lambda: len(runs.done) == 1, timeout_s=5)

    assert expires_at - 0.05 <= runs.started["waiter"] < expires_at + 1.5


def test_release_with_a_stale_token_does_not_free_another_holders_lease(
    redis_broker, make_mutex, mutex_client
):
    mutex = make_mutex()
    first = message_for("A")
    mutex.before_process_message(redis_broker, first)
    # The first run's lease lapsed and another worker's run took the project.
    mutex_client.set("syncfarm:lock:A", "the-second-holder", px=30_000)

    mutex.after_process_message(redis_broker, first)

    assert mutex.holder("A")["token"] == "the-second-holder"


def test_a_waiting_run_is_reported_to_the_wait_callback(redis_broker, make_mutex):
    waits: list[Message[Any]] = []
    mutex = make_mutex(on_wait=waits.append)
    holder, waiter = message_for("A"), message_for("A")
    mutex.before_process_message(redis_broker, holder)

    with pytest.raises(SkipMessage):
        mutex.before_process_message(redis_broker, waiter)

    assert [(m.message_id, m.args) for m in waits] == [(waiter.message_id, waiter.args)]


def test_a_waiter_stays_in_line_until_it_takes_the_lease(redis_broker, make_mutex):
    mutex = make_mutex()
    holder, waiter = message_for("A"), message_for("A")
    mutex.before_process_message(redis_broker, holder)
    with pytest.raises(SkipMessage):
        mutex.before_process_message(redis_broker, waiter)

    mutex.after_process_message(redis_broker, holder)
    handed_off = next_enqueued(redis_broker)

    assert handed_off.message_id == waiter.message_id
    assert mutex.waiting("A") == [waiter.message_id]
    mutex.before_process_message(redis_broker, handed_off)
    assert mutex.waiting("A") == []
    assert mutex.held_projects() == ["A"]


def test_operators_see_who_holds_a_project_and_who_waits(redis_broker, make_mutex):
    mutex = make_mutex(lease_ttl_s=10.0)
    holder, waiters = message_for("A"), [message_for("A"), message_for("A")]
    mutex.before_process_message(redis_broker, holder)
    for waiter in waiters + waiters[:1]:
        with pytest.raises(SkipMessage):
            mutex.before_process_message(redis_broker, waiter)

    assert 9_000 < mutex.holder("A")["ttl_ms"] <= 10_000
    assert mutex.holder("B") is None
    assert mutex.waiting("A") == [w.message_id for w in waiters]
    assert mutex.held_projects() == ["A"]


def test_messages_without_a_project_pass_untouched(redis_broker, make_mutex):
    mutex = make_mutex(client=unreachable_redis())
    message = MessageProxy(
        Message(queue_name="default", actor_name="run_job", args=(), kwargs={}, options={})
    )

    mutex.before_process_message(redis_broker, message)
    mutex.after_process_message(redis_broker, message)


def test_a_run_does_not_start_when_the_mutex_cannot_be_reached(redis_broker, make_mutex):
    redis_broker.add_middleware(make_mutex(client=unreachable_redis()))
    calls: list[str] = []

    @dramatiq.actor(broker=redis_broker, max_retries=0)
    def run_job() -> None:
        calls.append("ran")

    with running_worker(redis_broker, threads=1):
        run_job.send_with_options(project_id="A")
        redis_broker.join("default", timeout=5_000)

    assert calls == []
    assert redis_broker.client.zcard("dramatiq:default.XQ") == 1  # failed, dead-lettered


def test_a_crashed_hand_off_is_redone_by_the_sweeper(redis_broker, make_mutex):
    mutex = make_mutex(lease_ttl_s=0.5, sweep_interval_s=0.1)
    holder, waiter = message_for("A"), message_for("A")
    mutex.before_process_message(redis_broker, holder)
    with pytest.raises(SkipMessage):
        mutex.before_process_message(redis_broker, waiter)

    class DiesBeforeEnqueueing(StubBroker):
        def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
            raise SystemExit  # the holder's worker is killed after releasing the project

    with pytest.raises(SystemExit):
        mutex.after_process_message(DiesBeforeEnqueueing(), holder)

    assert next_enqueued(redis_broker).message_id == waiter.message_id


def test_each_lease_of_a_project_carries_a_higher_fencing_token(redis_broker, make_mutex):
    mutex = make_mutex()
    fences = []
    for _ in range(3):
        message = message_for("A")
        mutex.before_process_message(redis_broker, message)
        fences.append(mutex.holder("A")["fence"])
        mutex.after_process_message(redis_broker, message)

    assert fences == sorted(set(fences)) and len(fences) == 3
    assert fences[1] == fences[0] + 1


def test_the_running_message_sees_its_fencing_token_and_loses_it_when_done(
    redis_broker, make_mutex
):
    from worker.middleware import current_lease

    mutex = make_mutex()
    message = message_for("A")
    mutex.before_process_message(redis_broker, message)
    lease = current_lease()
    assert lease is not None
    assert (lease.project_id, lease.fence) == ("A", mutex.holder("A")["fence"])

    mutex.after_process_message(redis_broker, message)

    assert current_lease() is None


def test_fencing_tokens_stay_higher_after_redis_lost_its_data(
    redis_broker, make_mutex, mutex_client
):
    mutex = make_mutex()
    first = message_for("A")
    mutex.before_process_message(redis_broker, first)
    before = mutex.holder("A")["fence"]
    mutex_client.flushdb()  # a Redis restarted without persistence

    second = message_for("A")
    mutex.before_process_message(redis_broker, second)

    assert mutex.holder("A")["fence"] > before
