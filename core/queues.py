"""What waits in Redis: Dramatiq's queues, the project mutex's lines and the ticker's leader.

Read-only, with plain redis-py, so that `core/` needs no Dramatiq.  The key layouts read here
belong to other code and are restated so a change there is noticed here:

Dramatiq's Redis broker (`dramatiq/brokers/redis/dispatch.lua`, namespace `$ns`, "dramatiq"
unless the broker was built with another):

  $ns:$queue               list of the ids of messages ready to be fetched
  $ns:$queue.msgs          hash id -> message of every message not yet acked: the ready ones
                           and those a worker fetched (prefetched or running)
  $ns:$queue.DQ.msgs       the same hash for the delay queue; a worker fetches a delayed
                           message at once and holds it until its eta, so the hash (not the
                           list) counts the delayed messages
  $ns:$queue.XQ            sorted set of the ids of dead-lettered messages

The project mutex (`worker/middleware/project_mutex.lua`, namespace "syncfarm"):

  syncfarm:lock:$project            the lease's token while a run holds the project
  syncfarm:waiting:$project         sorted set of waiting message ids, scored by when each
                                    first waited (microseconds, Redis clock)
  syncfarm:waiting:$project.msgs    hash message id -> encoded message (Dramatiq's JSON; a
                                    run's message has the run id as its first argument)
  syncfarm:lock:waiting-projects    set of the projects whose line is not empty

The ticker (`cron/leader.py`): `syncfarm:ticker:leader` holds `host:token` of the leader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import redis

DRAMATIQ_NAMESPACE = "dramatiq"
MUTEX_NAMESPACE = "syncfarm"
LEADER_KEY = "syncfarm:ticker:leader"


@dataclass(frozen=True)
class QueueDepth:
    """Messages of one Dramatiq queue, by where they are."""

    queue: str
    ready: int  # in the list, not yet fetched by any worker
    in_flight: int  # fetched by a worker and not acked: prefetched or running
    delayed: int  # in the delay queue (retries with backoff, delayed sends)
    dead_lettered: int  # failed for good, kept for the broker's dead-message ttl


@dataclass(frozen=True)
class ProjectLock:
    """A project's lease and its line of waiting messages."""

    project_id: str
    held: bool
    ttl_ms: int | None  # how long the lease lasts unless renewed; None when free
    waiting: list[str]  # the ids of the waiting runs, first come first
    oldest_wait_s: float | None  # how long the head of the line has waited


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _run_id(message_id: str, data: bytes | str | None) -> str:
    """The run a waiting message would start (its first argument); else the message id."""
    try:
        args = json.loads(data or "null")["args"]
        return str(args[0])
    except (ValueError, TypeError, KeyError, IndexError):
        return message_id


def queue_names(client: redis.Redis, *, namespace: str = DRAMATIQ_NAMESPACE) -> list[str]:
    """The queues that hold or held messages, found by a SCAN of their `.msgs` hashes."""
    names: set[str] = set()
    prefix = f"{namespace}:"
    for key in client.scan_iter(match=f"{prefix}*.msgs", count=1000):
        name = _text(key)[len(prefix) : -len(".msgs")]
        if name.startswith("__"):
            continue
        for suffix in (".DQ", ".XQ"):
            name = name.removesuffix(suffix)
        names.add(name)
    return sorted(names)


def queue_depths(
    client: redis.Redis, queues: list[str], *, namespace: str = DRAMATIQ_NAMESPACE
) -> list[QueueDepth]:
    """The depth of each named queue (and of every other queue found in Redis)."""
    names = sorted(set(queues) | set(queue_names(client, namespace=namespace)))
    pipe = client.pipeline(transaction=False)
    for name in names:
        base = f"{namespace}:{name}"
        pipe.llen(base)
        pipe.hlen(f"{base}.msgs")
        pipe.hlen(f"{base}.DQ.msgs")
        pipe.zcard(f"{base}.XQ")
    counts = [int(n) for n in pipe.execute()]
    depths = []
    for i, name in enumerate(names):
        ready, unacked, delayed, dead = counts[4 * i : 4 * i + 4]
        depths.append(QueueDepth(name, ready, max(0, unacked - ready), delayed, dead))
    return depths


def project_locks(client: redis.Redis, *, namespace: str = MUTEX_NAMESPACE) -> list[ProjectLock]:
    """Every project that is held or has runs waiting, by project id."""
    lock_prefix = f"{namespace}:lock:"
    waiting_projects_key = f"{namespace}:lock:waiting-projects"
    held = {
        _text(key)[len(lock_prefix) :]
        for key in client.scan_iter(match=lock_prefix + "*", count=1000)
        if _text(key) != waiting_projects_key
    }
    members = cast("set[bytes | str]", client.smembers(waiting_projects_key))
    projects = sorted(held | {_text(m) for m in members})
    if not projects:
        return []
    now_s, now_us = cast("tuple[int, int]", client.time())
    now_micro = now_s * 1_000_000 + now_us
    pipe = client.pipeline(transaction=False)
    for project_id in projects:
        pipe.pttl(f"{lock_prefix}{project_id}")
        pipe.zrange(f"{namespace}:waiting:{project_id}", 0, -1, withscores=True)
        pipe.hgetall(f"{namespace}:waiting:{project_id}.msgs")
    answers: list[Any] = pipe.execute()
    locks = []
    for i, project_id in enumerate(projects):
        ttl_ms, line, messages = answers[3 * i : 3 * i + 3]
        ttl_ms = int(ttl_ms)
        messages = {_text(k): v for k, v in messages.items()}
        oldest = (now_micro - line[0][1]) / 1_000_000 if line else None
        locks.append(
            ProjectLock(
                project_id=project_id,
                held=ttl_ms != -2,
                ttl_ms=ttl_ms if ttl_ms >= 0 else None,
                waiting=[_run_id(_text(m), messages.get(_text(m))) for m, _ in line],
                oldest_wait_s=max(0.0, oldest) if oldest is not None else None,
            )
        )
    return locks


def ticker_leader(client: redis.Redis) -> str | None:
    """The leading ticker (`host:token`), or None while no ticker leads."""
    value = cast("bytes | str | None", client.get(LEADER_KEY))
    return None if value is None else _text(value)
