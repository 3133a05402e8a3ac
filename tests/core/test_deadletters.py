"""Dead letters of Dramatiq's Redis broker, made by the real broker in Redis DB 4 and then
requeued or deleted with plain redis-py (core/deadletters.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from core import deadletters, queues
from core.heartbeats import heartbeats
from tests.conftest import redis_client, redis_url

pytestmark = pytest.mark.integration
REDIS_DB = 4


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = redis_client(REDIS_DB)
    yield client
    client.flushdb()


@pytest.fixture
def broker(client: redis.Redis) -> RedisBroker:
    broker = RedisBroker(url=redis_url(REDIS_DB))
    broker.declare_queue("probe")
    return broker


def dead_letter(broker: RedisBroker, *, delay_ms: int | None = None) -> str:
    """A message the broker itself dead-letters: queued, fetched by a consumer, then nacked.
    Returns its id in Redis."""
    options = {"retries": 3, "traceback": "Traceback...\nValueError: no such product"}
    message = broker.enqueue(
        Message(
            queue_name="probe",
            actor_name="probe_actor",
            args=("run_1",),
            kwargs={},
            options=options,
        ),
        delay=delay_ms,
    )
    consumer = broker.consume(message.queue_name, prefetch=1, timeout=100)
    fetched = next(consumer)
    assert fetched is not None
    consumer.nack(fetched)
    consumer.close()
    return str(message.options["redis_message_id"])


def depth(client: redis.Redis, queue: str = "probe") -> queues.QueueDepth:
    return next(d for d in queues.queue_depths(client, [queue]) if d.queue == queue)


def test_a_dead_letter_is_listed_with_its_actor_arguments_and_error(
    client: redis.Redis, broker: RedisBroker
) -> None:
    message_id = dead_letter(broker)
    [letter] = deadletters.dead_letters(client, "probe")
    assert letter.message_id == message_id
    assert (letter.actor, letter.args, letter.retries) == ("probe_actor", ["run_1"], 3)
    assert letter.error == "ValueError: no such product"
    assert depth(client).dead_lettered == 1


def test_a_requeued_dead_letter_is_ready_again_and_a_worker_receives_it(
    client: redis.Redis, broker: RedisBroker
) -> None:
    message_id = dead_letter(broker)
    assert deadletters.requeue(client, "probe", message_id) is True
    assert (depth(client).ready, depth(client).dead_lettered) == (1, 0)
    consumer = broker.consume("probe", prefetch=1, timeout=100)
    received = next(consumer)
    assert received is not None
    assert received.options["redis_message_id"] == message_id
    assert received.args == ("run_1",)
    consumer.ack(received)
    consumer.close()
    assert depth(client) == queues.QueueDepth("probe", 0, 0, 0, 0)


def test_requeueing_twice_sends_the_message_back_once(
    client: redis.Redis, broker: RedisBroker
) -> None:
    message_id = dead_letter(broker)
    assert deadletters.requeue(client, "probe", message_id) is True
    assert deadletters.requeue(client, "probe", message_id) is False
    assert depth(client).ready == 1


def test_a_message_dead_lettered_from_the_delay_queue_comes_back_without_its_eta(
    client: redis.Redis, broker: RedisBroker
) -> None:
    message_id = dead_letter(broker, delay_ms=60_000)
    assert deadletters.dead_letters(client, "probe")[0].message_id == message_id
    assert deadletters.requeue(client, "probe", message_id) is True
    stored = json.loads(client.hget("dramatiq:probe.msgs", message_id) or "{}")
    assert stored["queue_name"] == "probe" and "eta" not in stored["options"]


def test_a_deleted_dead_letter_is_gone_for_good(client: redis.Redis, broker: RedisBroker) -> None:
    message_id = dead_letter(broker)
    assert deadletters.delete(client, "probe", message_id) is True
    assert deadletters.delete(client, "probe", message_id) is False
    assert deadletters.dead_letters(client, "probe") == []
    assert depth(client) == queues.QueueDepth("probe", 0, 0, 0, 0)


def test_every_process_that_used_the_broker_has_a_heartbeat(
    client: redis.Redis, broker: RedisBroker
) -> None:
    broker.enqueue(Message("probe", "probe_actor", (), {}, {}))
    consumer = broker.consume("probe", prefetch=1, timeout=100)
    next(consumer)  # fetched, not acked: the process holds it
    [beat] = heartbeats(client, timeout_s=60)
    assert beat.broker_id == broker.broker_id
    assert beat.alive and beat.age_s < 5 and beat.holding == 1
    consumer.close()
    assert heartbeats(client, timeout_s=60, now=beat.last_beat_ms + 61_000)[0].alive is False
