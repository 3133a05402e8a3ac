"""The ticker: fires due jobs, once each, and sleeps until the next one is due or it is woken.

Due jobs are found through the index on `jobs.next_fire_at`, so a tick costs in proportion to
the jobs that are due, not to all jobs. A job's next fire time is advanced with a
compare-and-set on its current value: whichever ticker wins the swap fires the slot, and a
slot is never fired twice; the due jobs of a batch are claimed in bulk (core/slots.py) and
their runs sent after. After downtime a job fires once and moves to its next slot after
now, rather than once per missed slot.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import dramatiq
import redis
from pymongo.errors import PyMongoError

from core import batches, expiry, retention
from core import jobs as jobs_service
from core import runs as runs_service
from core.clock import to_ms, utcnow
from core.errors import QueueUnavailable
from core.models import RunState, Trigger
from core.pipeline.retries import channels_with_due_retries
from core.retention import RetentionPolicy
from core.slots import SlotFire, fire_slot, fire_slots, mark_sent, unsent_runs
from core.store import Store
from cron.leader import LeaderLease
from cron.wake import WAKE_CHANNEL
from worker.enqueue import enqueue_run, submit_run

log = logging.getLogger(__name__)

TICK_BATCH = 1000
RETRY_SCAN_S = 15.0
#: the longest pause between clean-up passes while a backlog remains
HYGIENE_BACKLOG_S = 5.0
EXPIRY_BATCH = 1000


class Ticker:
    """Fires due jobs while it holds the leader lease.

    Parameters:
      store, client, broker: MongoDB store, Redis client and Dramatiq broker.
      lease_s: the leader lease's time to live; a standby takes over at most this long
        (plus one standby interval) after the leader dies.
      poll_s: the longest sleep between scans when nothing is due and nobody wakes it.
      resend_after_s: a run queued or waiting this long is sent again, in case its message
        was lost (the store, not the broker, is the source of truth).
      retention: what to delete and when (core/retention.py); None deletes nothing.
      sending_expiry_s: a change `sending` this long without a result fails
        (core/expiry.py); 0 never.
      hygiene_every_s: the pause between passes of retention and expiry (shorter while a
        pass leaves a backlog).
      clock: what the ticker takes as now (the host's clock; tests give their own). A clock
        that jumps never fires a slot twice: each slot is fired by the compare-and-set that
        moves its job's `next_fire_at` past it.
    """

    def __init__(
        self,
        *,
        store: Store,
        client: redis.Redis,
        broker: dramatiq.Broker,
        lease_s: float = 5.0,
        poll_s: float = 5.0,
        resend_after_s: float = 600.0,
        run_time_limit_s: float = 6 * 3600,
        holder: str | None = None,
        retention: RetentionPolicy | None = None,
        sending_expiry_s: float = 0.0,
        hygiene_every_s: float = 600.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.clock = clock
        self.broker = broker
        self.client = client
        self.lease = LeaderLease(
            client=client, ttl_s=lease_s, holder=holder or socket.gethostname()
        )
        self.max_sleep_s = min(poll_s, lease_s / 3)
        self.resend_after_ms = int(resend_after_s * 1000)
        self.abandon_after_ms = int((run_time_limit_s + 600) * 1000)
        self._next_resend = 0.0
        self._next_retry_scan = 0.0
        self.retention = retention
        self.sending_expiry_ms = int(sending_expiry_s * 1000)
        self.hygiene_every_s = hygiene_every_s
        self._next_hygiene = 0.0
        self._runs_resume_at = 0
        self._events_resume_after = ""
        self.stopping = threading.Event()

    def tick(self, now: datetime | None = None) -> int:
        """Fire every job due at `now`; return how many runs were queued."""
        now = now or self.clock()
        queued = 0
        while True:
            due = list(
                self.store.jobs.find({"next_fire_at": {"$lte": to_ms(now)}})
                .sort("next_fire_at", 1)
                .limit(TICK_BATCH)
            )
            # One query for the batch's projects, not one per project: with 1,000 jobs of
            # different projects due at once, that is a quarter of the tick's round trips.
            wanted = sorted({job["project_id"] for job in due})
            projects = {p["_id"]: p for p in self.store.projects.find({"_id": {"$in": wanted}})}
            scheduled: list[SlotFire] = []
            for job in due:
                project = projects.get(job["project_id"])
                try:
                    automatic = project is not None and batches.is_automatic(job, project)
                    following = (
                        jobs_service.next_fire_at(job, project, now)
                        if project and not automatic
                        else None
                    )
                except Exception:
                    # One job the schedule code fails on must not stop every other job
                    # from firing: its due slot fires (its run reports the error) and it
                    # has no next fire time until it is saved again.
                    log.exception("job %s: its next fire time cannot be worked out", job["_id"])
                    automatic, following = False, None
                if automatic:
                    assert project is not None
                    queued += self._fire_batch(job, project, now)
                    continue
                queue = project is not None and not project.get("paused")
                scheduled.append(SlotFire(job, following, queue))
            queued += self._fire_slots(scheduled, now)
            if len(due) < TICK_BATCH:
                return queued

    def _fire_slots(self, scheduled: list[SlotFire], now: datetime) -> int:
        """Fire the batch's scheduled slots in bulk (core/slots.py) and send their runs."""
        runs = fire_slots(self.store, scheduled, Trigger.SCHEDULE, now=to_ms(now))
        slots = {fire.job["_id"]: fire for fire in scheduled}
        sent = 0
        try:
            for run in runs:
                submit_run(self.store, self.broker, run)
                sent += 1
        except QueueUnavailable:
            # This run was abandoned; abandon the unsent rest too, and put every unsent slot
            # back, so those jobs fire as soon as the broker is back.
            for unsent in runs[sent + 1 :]:
                runs_service.abandon_run(self.store, unsent)
            for unsent in runs[sent:]:
                fire = slots[unsent["job_id"]]
                self.store.jobs.update_one(
                    {"_id": unsent["job_id"], "next_fire_at": fire.following},
                    {"$set": {"next_fire_at": fire.job["next_fire_at"]}},
                )
            raise
        finally:
            mark_sent(self.store, runs[:sent])
        return len(runs)

    def resend_unsent_runs(self) -> int:
        """Send the runs a previous leader claimed in bulk but stopped before sending (called
        on taking the lead). A run it did send but had not yet marked is sent twice, which is
        harmless (a run starts once)."""
        unsent = unsent_runs(self.store)
        for run in unsent:
            log.warning("run %s was claimed but never sent: sending it", run["_id"])
            enqueue_run(self.broker, run)
        mark_sent(self.store, unsent)
        return len(unsent)

    def _fire_batch(self, job: dict[str, Any], project: dict[str, Any], now: datetime) -> int:
        """Fire an automatic job's due batch of events as one run (trigger `event`). While the
        job has a run queued or running, the batch is kept for when that run ends; if the
        broker refuses the run, the batch stays due (core/batches.py)."""
        if project.get("paused") or job.get("batch_count", 0) <= 0:
            # nothing to fire: it waits for events, or for its project's resume
            self.store.jobs.update_one(
                {"_id": job["_id"], "next_fire_at": job["next_fire_at"]},
                {"$set": {"next_fire_at": None}},
            )
            return 0
        if job.get("pending_run_id") or job.get("running_run_id"):
            batches.park_batch(self.store, job)
            return 0
        run = runs_service.claim_run(
            self.store, job, Trigger.EVENT, now=to_ms(now), event_count=job["batch_count"]
        )
        if run is None:
            return 0  # a run was claimed meanwhile: the next tick parks the batch
        submit_run(self.store, self.broker, run)
        batches.take_batch(self.store, job, run, to_ms(now))
        return 1

    def resend_stale_runs(self) -> int:
        """Send again the runs whose message may have been lost; duplicates are harmless (a
        run starts once: the project mutex and the run's state see to it)."""
        stale = runs_service.stale_pending_runs(self.store, self.resend_after_ms)
        for run in stale:
            log.warning(
                "run %s has been %s since %s: sending it again",
                run["_id"],
                run["state"],
                run["queued_at"],
            )
            enqueue_run(self.broker, run)
        for run in runs_service.abandoned_running_runs(self.store, self.abandon_after_ms):
            log.warning("run %s has been running past the run time limit: failing it", run["_id"])
            runs_service.finish_run(
                self.store,
                run["_id"],
                RunState.FAILED,
                error={
                    "type": "Abandoned",
                    "message": "the run's worker stopped without finishing it (past the run "
                    "time limit); the job is free to run again",
                },
            )
        return len(stale)

    def clean_up(self, now: datetime | None = None) -> int:
        """Fire the clean-up runs that are due (two a day per automatic job): they retry
        every change still failing, whatever its backoff."""
        now = now or self.clock()
        queued = 0
        due = self.store.jobs.find({"cleanup_next_at": {"$lte": to_ms(now)}}).limit(TICK_BATCH)
        for job in list(due):
            project = self.store.projects.find_one({"_id": job["project_id"]})
            following = jobs_service.next_cleanup_at(job, project, now) if project else None
            run = fire_slot(
                self.store,
                job,
                Trigger.CLEANUP,
                slot_field="cleanup_next_at",
                following=following,
                now=to_ms(now),
                queue=project is not None and not project.get("paused"),
            )
            if run is None:
                continue
            try:
                submit_run(self.store, self.broker, run)
            except QueueUnavailable:
                # Put the clean-up slot back, so it happens as soon as the broker is back.
                self.store.jobs.update_one(
                    {"_id": job["_id"], "cleanup_next_at": following},
                    {"$set": {"cleanup_next_at": job["cleanup_next_at"]}},
                )
                raise
            mark_sent(self.store, [run])
            queued += 1
        return queued

    def retry_failed_changes(self, now: datetime | None = None) -> int:
        """Queue a `retry` run of each channel whose failed changes are due again, so failed
        records are retried on their own, not only when something new happens."""
        queued = 0
        for project_id, connection_id in channels_with_due_retries(
            self.store, to_ms(now or self.clock())
        ):
            project = self.store.projects.find_one({"_id": project_id})
            connection = self.store.connections.find_one({"_id": connection_id})
            if not project or not connection or project.get("paused") or connection["paused"]:
                continue
            job = jobs_service.connection_job(self.store, project, connection, "send")
            run = runs_service.claim_run(self.store, job, Trigger.RETRY)
            if run is not None:
                submit_run(self.store, self.broker, run)
                queued += 1
        return queued

    def keep_clean(self, now: datetime | None = None) -> bool:
        """One bounded pass of retention and of the expiry of stuck `sending` changes; the
        counts are logged and added to Redis counters that `/metrics` shows. True when the
        pass stopped at its bound with more left."""
        now_ms = to_ms(now or self.clock())
        counts: dict[str, int] = {}
        more = False
        if self.retention is not None:
            report = retention.clean_up(
                self.store,
                self.retention,
                now=now_ms,
                runs_resume_at=self._runs_resume_at,
                events_resume_after=self._events_resume_after,
            )
            self._runs_resume_at = report.runs_resume_at
            self._events_resume_after = report.events_resume_after
            more = report.more
            counts.update(events=report.events, runs=report.runs, spool_dirs=report.spool_dirs)
        if self.sending_expiry_ms > 0:
            expired = expiry.expire_sending_changes(
                self.store, self.sending_expiry_ms, now=now_ms, limit=EXPIRY_BATCH
            )
            more = more or expired >= EXPIRY_BATCH
            counts["expired_changes"] = expired
        done = {kind: n for kind, n in counts.items() if n}
        if done:
            summary = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in done.items())
            log.info("clean-up: %s", summary)
            with contextlib.suppress(redis.RedisError):
                pipe = self.client.pipeline(transaction=False)
                for kind, n in done.items():
                    pipe.hincrby(retention.COUNTERS_KEY, kind, n)
                pipe.execute()
        return more

    def _keep_clean_when_due(self) -> None:
        if self.retention is None and self.sending_expiry_ms <= 0:
            return
        if time.monotonic() < self._next_hygiene:
            return
        try:
            more = self.keep_clean()
        except PyMongoError:
            raise
        except Exception:  # a clean-up bug must not stop the ticker from firing jobs
            log.exception("clean-up pass failed; trying again in %.0f s", self.hygiene_every_s)
            more = False
        self._next_hygiene = time.monotonic() + (
            min(HYGIENE_BACKLOG_S, self.hygiene_every_s) if more else self.hygiene_every_s
        )

    def seconds_until_due(self, now: datetime) -> float:
        first = self.store.jobs.find_one(
            {"next_fire_at": {"$ne": None}}, sort=[("next_fire_at", 1)]
        )
        if first is None:
            return self.max_sleep_s
        return max(0.0, (first["next_fire_at"] - to_ms(now)) / 1000)

    def _lead_once(self) -> float:
        """One pass as leader or standby; returns how long to sleep."""
        taking_over = not self.lease.held
        if not self.lease.acquire_or_renew():
            return self.max_sleep_s
        if taking_over:
            self.resend_unsent_runs()
        fired = self.tick(self.clock()) + self.clean_up()
        if fired:
            log.info("queued %d run(s)", fired)
        if time.monotonic() >= self._next_resend:
            self._next_resend = time.monotonic() + min(60.0, self.resend_after_ms / 1000)
            self.resend_stale_runs()
        if time.monotonic() >= self._next_retry_scan:
            self._next_retry_scan = time.monotonic() + RETRY_SCAN_S
            self.retry_failed_changes()
        self._keep_clean_when_due()
        return min(self.seconds_until_due(self.clock()), self.max_sleep_s)

    def run_forever(self) -> None:
        """Lead or stand by until stopped; outages of Redis, MongoDB or the broker are
        waited out (logged, with growing pauses), never fatal."""
        pubsub: Any = None
        backoff_s = 0.5
        try:
            while not self.stopping.is_set():
                try:
                    if pubsub is None:
                        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                        pubsub.subscribe(WAKE_CHANNEL)
                    wait_s = self._lead_once()
                    backoff_s = 0.5
                    if wait_s > 0:
                        pubsub.get_message(timeout=wait_s)
                except Exception as exc:
                    if isinstance(exc, (redis.RedisError, PyMongoError, QueueUnavailable)):
                        log.warning("ticker paused %.1f s: %s", backoff_s, exc)
                    else:
                        # A bug, or a broker other than Redis failing its own way, must not
                        # end the process: every ticker would die on it and nothing fire.
                        log.exception("ticker pass failed; trying again in %.1f s", backoff_s)
                    self.lease.held = False
                    pubsub = None
                    self.stopping.wait(backoff_s)
                    backoff_s = min(backoff_s * 2, 10.0)
        finally:
            with contextlib.suppress(redis.RedisError):
                self.lease.release()

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(redis.RedisError):
            self.client.publish(WAKE_CHANNEL, b"stop")
