"""`/metrics`: the farm's figures in Prometheus text format, read at scrape time.

Every figure comes from MongoDB or Redis when Prometheus asks, never from this process's
memory, so whichever gunicorn worker (or web host) answers, the numbers are the same.

It needs no API key (its labels carry every tenant's project and connection ids: it is for
operators). With SYNCFARM_METRICS_TOKEN set it answers only `Authorization: Bearer <token>`;
without, it is open (a warning is logged at start-up): put it behind your network's rules.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator
from typing import Any, cast

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core import queues, retention, stats
from core.store import Store
from worker.broker import RUNS_QUEUE

log = logging.getLogger(__name__)

QUANTILES = (0.5, 0.9, 0.99, 1.0)
CLEANED_KINDS = ("events", "runs", "spool_dirs", "expired_changes")

blp = Blueprint("metrics", __name__)


class FarmCollector(Collector):
    """Reads the store, the broker's Redis and the mutex's Redis on each scrape.

    Parameters:
      store: the MongoDB store.
      mutex_redis: the Redis of the project mutex and the ticker lease (None: not watched).
      broker: the Dramatiq broker; queue depths are read when it is a RedisBroker.
    """

    def __init__(
        self, *, store: Store, mutex_redis: redis.Redis | None, broker: dramatiq.Broker
    ) -> None:
        self.store = store
        self.mutex_redis = mutex_redis
        self.broker = broker

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "syncfarm_metrics_source_up",
            "1 when this scrape could read the source (store, broker, redis), else 0",
            labels=["source"],
        )
        sources: list[tuple[str, Callable[[], list[Metric]] | None]] = [
            ("store", self._store_metrics),
            ("broker", self._queue_metrics if isinstance(self.broker, RedisBroker) else None),
            ("redis", self._redis_metrics if self.mutex_redis is not None else None),
        ]
        for source, read in sources:
            if read is None:
                continue
            try:
                yield from read()
            except Exception as exc:  # one source down must not hide the others
                log.warning("metrics: could not read the %s: %s", source, exc)
                up.add_metric([source], 0)
            else:
                up.add_metric([source], 1)
        yield up

    def _store_metrics(self) -> list[Metric]:
        runs = GaugeMetricFamily(
            "syncfarm_runs",
            "Stored runs by state and job kind",
            labels=["state", "job_kind"],
        )
        for (state, kind), count in stats.runs_by_state_and_kind(self.store).items():
            runs.add_metric([state, kind], count)

        timings = stats.recent_run_timings(self.store)
        duration = GaugeMetricFamily(
            "syncfarm_run_duration_seconds",
            f"Run duration (finished_at - started_at) by job kind over the last "
            f"{stats.TIMING_SAMPLE_RUNS} queued runs per end state; quantile 1 is the longest",
            labels=["job_kind", "quantile"],
        )
        duration_runs = GaugeMetricFamily(
            "syncfarm_run_duration_sample_runs",
            "How many finished runs syncfarm_run_duration_seconds was taken from",
            labels=["job_kind"],
        )
        for kind, values in sorted(timings.durations_s.items()):
            duration_runs.add_metric([kind], len(values))
            for q in QUANTILES:
                duration.add_metric([kind, str(q)], stats.quantile(values, q))

        delay = GaugeMetricFamily(
            "syncfarm_schedule_start_delay_seconds",
            "Scheduled runs: started_at - queued_at (the ticker queues a run when it fires its "
            "slot) over recent runs; quantile 1 is the longest",
            labels=["quantile"],
        )
        if timings.start_delays_s:
            for q in QUANTILES:
                delay.add_metric([str(q)], stats.quantile(timings.start_delays_s, q))
        delay_runs = GaugeMetricFamily(
            "syncfarm_schedule_start_delay_sample_runs",
            "How many scheduled runs syncfarm_schedule_start_delay_seconds was taken from",
            value=len(timings.start_delays_s),
        )
        overdue = GaugeMetricFamily(
            "syncfarm_schedule_overdue_seconds",
            "How far past its fire time the most overdue job is (0: none); grows while no "
            "ticker leads",
            value=stats.overdue_s(self.store),
        )

        changes = GaugeMetricFamily(
            "syncfarm_channel_changes",
            "Change documents waiting to be sent (pending) or to be retried (failed), per channel",
            labels=["project_id", "connection_id", "state"],
        )
        for channel, state, count in stats.open_changes_per_channel(self.store):
            changes.add_metric([channel["project_id"], channel["_id"], state], count)
        return [runs, duration, duration_runs, delay, delay_runs, overdue, changes]

    def _queue_metrics(self) -> list[Metric]:
        assert isinstance(self.broker, RedisBroker)
        messages = GaugeMetricFamily(
            "syncfarm_queue_messages",
            "Messages of each Dramatiq queue: ready (not fetched), in_flight (fetched, not "
            "acked), delayed (.DQ), dead_lettered (.XQ)",
            labels=["queue", "state"],
        )
        depths = queues.queue_depths(
            self.broker.client, [RUNS_QUEUE], namespace=self.broker.namespace
        )
        for depth in depths:
            for state in ("ready", "in_flight", "delayed", "dead_lettered"):
                messages.add_metric([depth.queue, state], getattr(depth, state))
        return [messages]

    def _redis_metrics(self) -> list[Metric]:
        assert self.mutex_redis is not None
        locks = queues.project_locks(self.mutex_redis)
        held = GaugeMetricFamily(
            "syncfarm_project_locks_held",
            "Projects whose lease a run holds (runs in progress under the project mutex)",
            value=sum(1 for lock in locks if lock.held),
        )
        waiting_projects = GaugeMetricFamily(
            "syncfarm_lock_waiting_projects",
            "Projects with runs waiting for the project's lease",
            value=sum(1 for lock in locks if lock.waiting),
        )
        waiting = GaugeMetricFamily(
            "syncfarm_lock_waiting_runs",
            "Runs waiting for their project's lease, per project (only projects with waiters)",
            labels=["project_id"],
        )
        oldest = GaugeMetricFamily(
            "syncfarm_lock_oldest_wait_seconds",
            "How long the first run in a project's line has waited",
            labels=["project_id"],
        )
        for lock in locks:
            if lock.waiting:
                waiting.add_metric([lock.project_id], len(lock.waiting))
                oldest.add_metric([lock.project_id], lock.oldest_wait_s or 0.0)
        leader = GaugeMetricFamily(
            "syncfarm_ticker_leader",
            "1 while a ticker holds the leader lease, else 0 (scheduled runs stop at 0)",
            value=1 if queues.ticker_leader(self.mutex_redis) else 0,
        )
        cleaned = CounterMetricFamily(
            "syncfarm_cleanup_deleted",
            "What the ticker's clean-up deleted since Redis was last emptied: events and runs "
            "past retention, spool directories of ended runs, and changes failed after no "
            "result within SYNCFARM_SENDING_EXPIRY_S (expired_changes)",
            labels=["kind"],
        )
        counts = cast(dict[Any, Any], self.mutex_redis.hgetall(retention.COUNTERS_KEY))
        for kind in CLEANED_KINDS:
            cleaned.add_metric([kind], int(counts.get(kind.encode(), counts.get(kind)) or 0))
        return [held, waiting_projects, waiting, oldest, leader, cleaned]


def init_app(app: Flask) -> None:
    """Register `/metrics` with a registry of its own that holds only the farm collector."""
    if not app.extensions["syncfarm.settings"].metrics_token:
        log.warning(
            "/metrics needs no token: set SYNCFARM_METRICS_TOKEN, or keep it behind your "
            "network's scrape rules (its labels name every tenant's projects)"
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        FarmCollector(
            store=app.extensions["syncfarm.store"],
            mutex_redis=app.extensions.get("syncfarm.redis"),
            broker=app.extensions["syncfarm.broker"],
        )
    )
    app.extensions["syncfarm.metrics"] = registry
    app.register_blueprint(blp)


def _token_given(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


@blp.get("/metrics")
def metrics() -> Any:
    token: str | None = current_app.extensions["syncfarm.settings"].metrics_token
    if token and not _token_given(token):
        return Response(
            "/metrics needs `Authorization: Bearer <SYNCFARM_METRICS_TOKEN>`\n",
            status=401,
            content_type="text/plain; charset=utf-8",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    registry: CollectorRegistry = current_app.extensions["syncfarm.metrics"]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
