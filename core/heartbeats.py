"""The heartbeats Dramatiq's Redis broker keeps: every process that talks to the broker.

`$ns:__heartbeats__` is a sorted set of broker ids scored by the time (epoch ms, the caller's
clock) of each one's last call to the broker (`dramatiq/brokers/redis/dispatch.lua`). Workers
call it every poll, so a worker whose beat is older than the heartbeat timeout is dead and its
unacknowledged messages are given to others. A web process that queued runs shows up too
(queueing is a broker call), with a beat as old as its last queued run.

`$ns:__acks__.$id.$queue` is the set of messages that process fetched and has not yet acked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import redis

from core.clock import now_ms
from core.queues import DRAMATIQ_NAMESPACE


@dataclass(frozen=True)
class Heartbeat:
    broker_id: str
    last_beat_ms: int
    age_s: float
    holding: int  # messages fetched and not yet acked, over every queue
    alive: bool  # beat within the heartbeat timeout


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def heartbeats(
    client: redis.Redis,
    *,
    timeout_s: float,
    namespace: str = DRAMATIQ_NAMESPACE,
    now: int | None = None,
) -> list[Heartbeat]:
    """Every process with a heartbeat, most recent first."""
    now = now or now_ms()
    beats = cast(
        "list[tuple[bytes | str, float]]",
        client.zrevrange(f"{namespace}:__heartbeats__", 0, -1, withscores=True),
    )
    holding = _holding(client, namespace) if beats else {}
    found = []
    for member, score in beats:
        broker_id = _text(member)
        age_s = max(0.0, (now - score) / 1000)
        found.append(
            Heartbeat(
                broker_id=broker_id,
                last_beat_ms=int(score),
                age_s=age_s,
                holding=holding.get(broker_id, 0),
                alive=age_s <= timeout_s,
            )
        )
    return found


def _holding(client: redis.Redis, namespace: str) -> dict[str, int]:
    """Per broker id, the messages it holds: one SCAN of the ack sets for every process (not
    one SCAN of the whole keyspace per process), then one pipelined SCARD each."""
    prefix = f"{namespace}:__acks__."
    keys = [_text(k) for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    if not keys:
        return {}
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.scard(key)
    counts: dict[str, int] = {}
    for key, size in zip(keys, pipe.execute(), strict=True):
        broker_id = key[len(prefix) :].split(".", 1)[0]  # then the queue, maybe "runs.DQ"
        counts[broker_id] = counts.get(broker_id, 0) + int(size)
    return counts
