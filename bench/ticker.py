"""Ticker benchmark: the time of a tick with 1,000 jobs due among 10,000 and among 100,000, and
how late those jobs fire.

    python -m bench.ticker [--jobs 10000,100000] [--due 1000] [--ticks 3] [--lead-s 2]
                           [--store nx|mongomock|both]

For each job count it seeds a database of its own (bulk inserts, natural ids, 10 jobs a
project, interval schedules), with `--due` jobs spread evenly among them (each of a different
project when jobs ÷ due is a multiple of 10) due now and the others due 15 to 75 minutes
later. Then:

- **tick**: `Ticker.tick()` fires the due jobs (claims a run of each and sends its message to
  Redis); the figure is the median of `--ticks` ticks, the due jobs re-seeded before each. A
  tick costs in proportion to the due jobs, not to all jobs, if the 100,000-job tick takes
  about as long as the 10,000-job one: the ratio is printed.
- **fire lateness**: the due jobs are set due `--lead-s` seconds ahead and a ticker runs as
  production runs it (`Ticker.run_forever`: leader lease, sleeping until the first job is due).
  A job's lateness is the moment its run's message was created (the Dramatiq message
  timestamp, the moment the run was sent) minus the time it was due; the run's own recorded
  `queued_at` (the tick's clock reading, the same for a whole tick) is printed next to it.

`--store nx` (the default) starts an nx-27017 of its own on a free port; `--store mongomock`
runs in-process on mongomock, which has no indexes (it scans every job to find the due ones),
so there a tick grows with the job count. The broker is Redis database 6, flushed before and
after. Targets are printed, never enforced: the exit status is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pymongo
import redis
from dramatiq import Message

from bench._fleet import (
    load_average,
    percentile,
    queue_pending,
    redis_db,
    runs_by_id,
    say,
    seed,
    wait_until,
)
from bench.databases import mongomock_client, nx_server, work_folder
from core.clock import now_ms, utcnow
from core.config import Settings
from core.store import Store
from cron.ticker import Ticker
from worker.broker import RUNS_QUEUE, build_broker

REDIS_DB = 6
JOBS_PER_PROJECT = 10
TARGET_P99_S = 1.0
#: "About the same": the tick among 10 times more jobs may take this much longer.
TARGET_TICK_RATIO = 1.5
SCHEDULE = {"mode": "interval", "every_minutes": 60}


def _reset_due(store: Store, client: redis.Redis, due_ids: list[str], due_at: int) -> None:
    """Make the due jobs due at `due_at` again, with no run, and empty the runs queue."""
    store.jobs.update_many(
        {"_id": {"$in": due_ids}},
        {
            "$set": {
                "next_fire_at": due_at,
                "pending_run_id": None,
                "running_run_id": None,
                "last_fired_at": None,
            }
        },
    )
    store.runs.delete_many({})
    client.delete(f"dramatiq:{RUNS_QUEUE}", f"dramatiq:{RUNS_QUEUE}.msgs")


def _tick_times(
    ticker: Ticker, store: Store, client: redis.Redis, due_ids: list[str], ticks: int
) -> tuple[list[float], list[int]]:
    times, fired = [], []
    for _ in range(ticks):
        _reset_due(store, client, due_ids, now_ms() - 1000)
        started = time.perf_counter()
        fired.append(ticker.tick(utcnow()))
        times.append(time.perf_counter() - started)
    return times, fired


def _lateness(
    ticker: Ticker, store: Store, client: redis.Redis, due_ids: list[str], lead_s: float
) -> dict[str, Any]:
    """Let a ticker lead and fire the due jobs when they come due; how late each was sent."""
    due_at = now_ms() + int(lead_s * 1000)
    _reset_due(store, client, due_ids, due_at)
    ticker.stopping.clear()
    thread = threading.Thread(target=ticker.run_forever, name="ticker", daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: queue_pending(client, RUNS_QUEUE) >= len(due_ids), lead_s + 60, every_s=0.05
        )
    finally:
        ticker.stop()
        thread.join(30)
    sent = cast("list[bytes]", client.hvals(f"dramatiq:{RUNS_QUEUE}.msgs"))
    messages = [Message.decode(data) for data in sent]
    sent_s = [(m.message_timestamp - due_at) / 1000 for m in messages]
    runs = runs_by_id(store, [m.args[0] for m in messages])
    recorded_s = [(r["queued_at"] - due_at) / 1000 for r in runs]
    return {"fired": len(messages), "sent_s": sent_s, "recorded_s": recorded_s}


def bench_size(
    store: Store, redis_url: str, jobs: int, due: int, ticks: int, lead_s: float
) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url)
    broker = build_broker(replace(Settings(), broker_url=redis_url, redis_url=redis_url))
    ticker = Ticker(store=store, client=client, broker=broker, lease_s=5.0, poll_s=5.0)
    spacing = max(1, jobs // due)
    due_indexes = {k * spacing for k in range(min(due, jobs))}
    later = now_ms() + 15 * 60_000

    def next_fire_at(i: int) -> int:
        return 0 if i in due_indexes else later + (i * 7919) % 3_600_000

    say(f"{jobs} jobs: seeding …")
    started = time.perf_counter()
    job_ids = seed(
        store,
        projects=jobs // JOBS_PER_PROJECT,
        jobs_per_project=JOBS_PER_PROJECT,
        job={"kind": "send", "schedule": SCHEDULE},
        next_fire_at=next_fire_at,
    )
    seed_s = time.perf_counter() - started
    due_ids = [job_ids[i] for i in sorted(due_indexes)]
    say(f"{jobs} jobs: seeded in {seed_s:.1f} s; timing {ticks} ticks of {len(due_ids)} due …")
    tick_s, fired = _tick_times(ticker, store, client, due_ids, ticks)
    say(f"{jobs} jobs: ticks {', '.join(f'{t:.2f}' for t in tick_s)} s; lateness …")
    late = _lateness(ticker, store, client, due_ids, lead_s)
    broker.close()
    client.close()
    return {
        "jobs": jobs,
        "due": len(due_ids),
        "seed_s": seed_s,
        "tick_s": tick_s,
        "fired_per_tick": fired,
        **late,
    }


def _print_report(results: list[dict[str, Any]], store_name: str, load: tuple[str, str]) -> None:
    print()
    print(f"ticker: {store_name}; broker Redis db {REDIS_DB}; {JOBS_PER_PROJECT} jobs a project")
    print(f"  before: {load[0]}\n  after:  {load[1]}")
    print(
        "| jobs | due | seed s | tick s (median) | ms per due job | sent late p50 / p99 / max s"
        " | recorded late p50 / p99 s |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        tick = statistics.median(r["tick_s"])
        sent, recorded = r["sent_s"], r["recorded_s"]
        print(
            f"| {r['jobs']:,} | {r['due']:,} | {r['seed_s']:.1f} | {tick:.2f} "
            f"({', '.join(f'{t:.2f}' for t in r['tick_s'])}) | {tick / r['due'] * 1000:.2f} "
            f"| {percentile(sent, 50):.2f} / {percentile(sent, 99):.2f} / "
            f"{max(sent, default=float('nan')):.2f} "
            f"| {percentile(recorded, 50):.2f} / {percentile(recorded, 99):.2f} |"
        )
        if any(n != r["due"] for n in r["fired_per_tick"]) or r["fired"] != r["due"]:
            print(
                f"  note: {r['jobs']:,} jobs: ticks fired {r['fired_per_tick']}, the running "
                f"ticker {r['fired']}, of {r['due']} due"
            )
    if len(results) >= 2:
        small, large = results[0], results[-1]
        ratio = statistics.median(large["tick_s"]) / statistics.median(small["tick_s"])
        verdict = "met" if ratio <= TARGET_TICK_RATIO else "MISSED"
        print(
            f"  tick {large['jobs']:,} jobs ÷ tick {small['jobs']:,} jobs: {ratio:.2f} "
            f"(target about 1, ≤ {TARGET_TICK_RATIO:g}: {verdict})"
        )
    for r in results:
        p99 = percentile(r["sent_s"], 99)
        verdict = "met" if p99 < TARGET_P99_S else "MISSED"
        print(
            f"  {r['jobs']:,} jobs: fire lateness p99 {p99:.2f} s "
            f"(target < {TARGET_P99_S:g} s: {verdict})"
        )


@contextmanager
def _stores(kind: str, workdir: Path) -> Iterator[tuple[str, Any]]:
    """(description, a function from database name to Store)."""
    if kind == "mongomock":
        client = mongomock_client()
        yield "mongomock (in-process, no indexes)", lambda db: Store(client[db])
        return
    with nx_server(workdir) as (url, _):
        mongo: pymongo.MongoClient[Any] = pymongo.MongoClient(url, tz_aware=True)
        yield "nx-27017 (own server, over its socket)", lambda db: Store(mongo[db])
        mongo.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ticker", description=__doc__)
    parser.add_argument("--jobs", default="10000,100000", help="comma-separated job counts")
    parser.add_argument("--due", type=int, default=1000, help="jobs due at each tick (1000)")
    parser.add_argument("--ticks", type=int, default=3, help="ticks timed per job count (3)")
    parser.add_argument("--lead-s", type=float, default=2.0, help="due this far ahead (2)")
    parser.add_argument("--store", choices=("nx", "mongomock", "both"), default="nx")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.jobs.split(",") if n.strip()]
    if any(n < JOBS_PER_PROJECT or n % JOBS_PER_PROJECT for n in sizes):
        parser.error(f"job counts must be multiples of {JOBS_PER_PROJECT}")
    kinds = ["nx", "mongomock"] if args.store == "both" else [args.store]
    with work_folder("ticker", keep=False) as workdir, redis_db(REDIS_DB) as redis_url:
        for kind in kinds:
            before = load_average()
            (workdir / kind).mkdir()
            with _stores(kind, workdir / kind) as (store_name, store_for):
                results = [
                    bench_size(
                        store_for(f"bench_ticker_{n}"),
                        redis_url,
                        n,
                        args.due,
                        args.ticks,
                        args.lead_s,
                    )
                    for n in sizes
                ]
            _print_report(results, store_name, (before, load_average()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
