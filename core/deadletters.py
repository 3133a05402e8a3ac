"""Dead-lettered messages of Dramatiq's Redis broker: list them, send them back, delete them.

With plain redis-py, so that `core/` needs no Dramatiq.  The layout belongs to Dramatiq
(`dramatiq/brokers/redis/dispatch.lua` of Dramatiq 2; `core/queues.py` restates the rest):

  $ns:$queue               list of the ids of messages ready to be fetched (`enqueue` RPUSHes,
                           `fetch` LPOPs)
  $ns:$queue.msgs          hash id -> message of every message not yet acked
  $ns:$queue.XQ            sorted set of dead-lettered ids, scored by when each was
                           dead-lettered (epoch ms); a `nack` moves the message here from
                           `.msgs`, and maintenance drops entries older than the broker's
                           dead-message ttl
  $ns:$queue.XQ.msgs       hash id -> message of the dead-lettered messages

Requeueing does what `enqueue` does (HSET into `.msgs`, RPUSH onto the list) and what a `nack`
did, undone (ZREM from `.XQ`, HDEL from `.XQ.msgs`), in one MULTI guarded by WATCH, so two
operators pressing the button at once requeue the message once.  A message keeps its retry
count: if it fails again it goes straight back to the dead letters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import redis

from core.queues import DRAMATIQ_NAMESPACE

DELAY_SUFFIX = ".DQ"


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message, with what an operator needs to decide on it."""

    queue: str
    message_id: str
    dead_lettered_at_ms: int
    actor: str | None
    args: list[Any]
    retries: int | None
    error: str | None  # the last line of the traceback Dramatiq kept, if any


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _keys(queue: str, namespace: str) -> tuple[str, str, str, str]:
    base = f"{namespace}:{queue}"
    return base, f"{base}.msgs", f"{base}.XQ", f"{base}.XQ.msgs"


def _decoded(data: bytes | str | None) -> dict[str, Any]:
    try:
        value = json.loads(data or "null")
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def _last_line(traceback: Any) -> str | None:
    if not isinstance(traceback, str) or not traceback.strip():
        return None
    return traceback.strip().splitlines()[-1]


def dead_letters(
    client: redis.Redis, queue: str, *, namespace: str = DRAMATIQ_NAMESPACE, limit: int = 100
) -> list[DeadLetter]:
    """The queue's dead-lettered messages, most recently dead-lettered first (at most `limit`)."""
    _, _, xq, xq_msgs = _keys(queue, namespace)
    entries = cast(
        "list[tuple[bytes | str, float]]", client.zrevrange(xq, 0, limit - 1, withscores=True)
    )
    if not entries:
        return []
    ids = [_text(member) for member, _ in entries]
    bodies = cast("list[bytes | None]", client.hmget(xq_msgs, ids))
    letters = []
    for message_id, (_, score), body in zip(ids, entries, bodies, strict=True):
        message = _decoded(body)
        options = message.get("options")
        options = options if isinstance(options, dict) else {}
        args = message.get("args")
        letters.append(
            DeadLetter(
                queue=queue,
                message_id=message_id,
                dead_lettered_at_ms=int(score),
                actor=message.get("actor_name"),
                args=args if isinstance(args, list) else [],
                retries=options.get("retries"),
                error=_last_line(options.get("traceback")),
            )
        )
    return letters


def _ready_again(body: bytes | str) -> bytes | str:
    """A message dead-lettered from the delay queue goes back to its queue as Dramatiq's worker
    would send it there when due: named for the queue, without its `eta`."""
    message = _decoded(body)
    name = message.get("queue_name")
    if not (isinstance(name, str) and name.endswith(DELAY_SUFFIX)):
        return body
    message["queue_name"] = name[: -len(DELAY_SUFFIX)]
    options = message.get("options")
    if isinstance(options, dict):
        options.pop("eta", None)
    return json.dumps(message, separators=(",", ":"))


def requeue(
    client: redis.Redis, queue: str, message_id: str, *, namespace: str = DRAMATIQ_NAMESPACE
) -> bool:
    """Move a dead-lettered message back to the end of its queue; False when it is not (or no
    longer) among the queue's dead letters."""
    ready, ready_msgs, xq, xq_msgs = _keys(queue, namespace)
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(xq_msgs)
                body = cast("bytes | None", pipe.hget(xq_msgs, message_id))
                if body is None:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.zrem(xq, message_id)
                pipe.hdel(xq_msgs, message_id)
                pipe.hset(ready_msgs, mapping={message_id: _ready_again(body)})
                pipe.rpush(ready, message_id)
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def delete(
    client: redis.Redis, queue: str, message_id: str, *, namespace: str = DRAMATIQ_NAMESPACE
) -> bool:
    """Forget a dead-lettered message for good; False when it was not there."""
    _, _, xq, xq_msgs = _keys(queue, namespace)
    with client.pipeline(transaction=True) as pipe:
        pipe.zrem(xq, message_id)
        pipe.hdel(xq_msgs, message_id)
        removed = pipe.execute()
    return any(int(n) for n in removed)
