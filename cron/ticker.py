"""The ticker: fires due jobs, once each, and sleeps until the next one is due or it is woken.

Due jobs are found through the index on `jobs.next_fire_at`, so a tick costs in proportion to
the jobs that are due, not to all jobs. A job's next fire time is advanced with a
compare-and-set on its current value: whichever ticker wins the swap fires the slot, and a
slot is never fired twice. After downtime a job fires once and moves to its next slot after
now, rather than once per missed slot.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from datetime import datetime
from typing import Any

import dramatiq
import redis

from core import jobs as jobs_service
from core import runs as runs_service
from core.clock import to_ms, utcnow
from core.models import Trigger
from core.store import Store
from cron.leader import LeaderLease
from cron.wake import WAKE_CHANNEL
from worker.enqueue import enqueue_run

log = logging.getLogger(__name__)

TICK_BATCH = 1000


class Ticker:
    """Fires due jobs while it holds the leader lease.

    Parameters:
      store, client, broker: MongoDB store, Redis client and Dramatiq broker.
      lease_s: the leader lease's time to live; a standby takes over at most this long
        (plus one standby interval) after the leader dies.
      poll_s: the longest sleep between scans when nothing is due and nobody wakes it.
    """

    def __init__(
        self,
        *,
        store: Store,
        client: redis.Redis,
        broker: dramatiq.Broker,
        lease_s: float = 5.0,
        poll_s: float = 5.0,
        holder: str | None = None,
    ) -> None:
        self.store = store
        self.broker = broker
        self.client = client
        self.lease = LeaderLease(
            client=client, ttl_s=lease_s, holder=holder or socket.gethostname()
        )
        self.max_sleep_s = min(poll_s, lease_s / 3)
        self.stopping = threading.Event()

    def tick(self, now: datetime | None = None) -> int:
        """Fire every job due at `now`; return how many runs were queued."""
        now = now or utcnow()
        queued = 0
        while True:
            due = list(
                self.store.jobs.find({"next_fire_at": {"$lte": to_ms(now)}})
                .sort("next_fire_at", 1)
                .limit(TICK_BATCH)
            )
            projects: dict[str, dict[str, Any] | None] = {}
            for job in due:
                pid = job["project_id"]
                if pid not in projects:
                    projects[pid] = self.store.projects.find_one({"_id": pid})
                queued += self._fire(job, projects[pid], now)
            if len(due) < TICK_BATCH:
                return queued

    def _fire(self, job: dict[str, Any], project: dict[str, Any] | None, now: datetime) -> int:
        following = jobs_service.next_fire_at(job, project, now) if project else None
        swapped = self.store.jobs.update_one(
            {"_id": job["_id"], "next_fire_at": job["next_fire_at"]},
            {"$set": {"next_fire_at": following, "last_fired_at": to_ms(now)}},
        )
        if swapped.modified_count != 1 or project is None:
            return 0
        run = runs_service.claim_run(self.store, job, Trigger.SCHEDULE, now=to_ms(now))
        if run is None:
            log.info("job %s fired while a run is active: coalesced", job["_id"])
            return 0
        enqueue_run(self.broker, run)
        return 1

    def seconds_until_due(self, now: datetime) -> float:
        first = self.store.jobs.find_one(
            {"next_fire_at": {"$ne": None}}, sort=[("next_fire_at", 1)]
        )
        if first is None:
            return self.max_sleep_s
        return max(0.0, (first["next_fire_at"] - to_ms(now)) / 1000)

    def run_forever(self) -> None:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(WAKE_CHANNEL)
        try:
            while not self.stopping.is_set():
                if self.lease.acquire_or_renew():
                    now = utcnow()
                    fired = self.tick(now)
                    if fired:
                        log.info("queued %d run(s)", fired)
                    wait_s = min(self.seconds_until_due(utcnow()), self.max_sleep_s)
                else:
                    wait_s = self.max_sleep_s
                if wait_s > 0:
                    pubsub.get_message(timeout=wait_s)
        finally:
            self.lease.release()
            pubsub.close()

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(redis.RedisError):
            self.client.publish(WAKE_CHANNEL, b"stop")
