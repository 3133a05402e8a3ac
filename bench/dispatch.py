"""Dispatch benchmark: no-op runs a second through the farm's whole run path, against a bare
no-op Dramatiq actor on the same Redis with the same worker processes and threads.

    python -m bench.dispatch [--runs 2000] [--processes 2] [--threads 4] [--rounds 2]

Both sides run real worker processes (the `dramatiq` command, as `syncfarm worker` starts
it, with the same `--processes`, `--threads` and 100 ms poll) on Redis database 5, flushed
before and after, against an nx-27017 of the benchmark's own:

- **full path**: `--runs` projects, each with a `send` job and no connection (a run that does
  no work). The benchmark claims a run of each job and sends it (`core.runs.claim_run`,
  `worker.enqueue.submit_run`, as "run now" does); the farm's workers (`worker.app`: the
  project mutex, `execute_run`, every state transition recorded) run them.
- **bare**: the same number of messages to `bench._bare_actor` (the farm's broker set-up, no
  mutex, no bookkeeping), sent from this process.

Each side's rate is its messages divided by the time from the first send to the last
acknowledgement (every message's entry gone from the queue's Redis hash); the workers are
warmed up first, and sides alternate for `--rounds` rounds (the best round of each side is
compared: other load on the machine only ever slows a round down). Also printed: the CPU
milliseconds a message costs the workers, the database server and this process (the sender),
to say where the time goes, and the rate those costs allow on this machine's CPUs.
Target: the full path at ≥ 50 % of the bare rate. Targets are printed, never enforced: the
exit status is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pymongo
import redis
from dramatiq import Message

from bench._fleet import (
    BARE_ACTOR,
    BARE_QUEUE,
    Workers,
    farm_env,
    jobs_by_id,
    load_average,
    queue_pending,
    redis_db,
    runs_by_id,
    say,
    seed,
    wait_until,
)
from bench.databases import nx_server, work_folder
from bench.probes import own_cpu_s, process_cpu_s
from core.config import Settings
from core.models import Trigger
from core.runs import claim_run
from core.store import Store
from worker.broker import RUNS_QUEUE, build_broker
from worker.enqueue import submit_run

REDIS_DB = 5
DATABASE = "bench_dispatch"
TARGET_RATIO = 0.5
WAIT_S = 600.0


@dataclass
class Round:
    side: str
    messages: int
    send_s: float
    wall_s: float
    workers_cpu_s: float
    server_cpu_s: float
    sender_cpu_s: float
    states: dict[str, int]
    #: full path: from the first run's start to the last run's end, as the runs record them
    runs_span_s: float | None = None

    @property
    def rate(self) -> float:
        return self.messages / self.wall_s


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path, mongo_url: str, redis_url: str):
        self.args = args
        self.workdir = workdir
        self.redis = redis.Redis.from_url(redis_url)
        self.broker = build_broker(replace(Settings(), broker_url=redis_url, redis_url=redis_url))
        self.broker.declare_queue(BARE_QUEUE)
        self.store = Store(pymongo.MongoClient(mongo_url, tz_aware=True)[DATABASE])
        self.env = farm_env(f"{mongo_url}/{DATABASE}", redis_url, workdir / "data")
        self.server_pid = 0
        self.jobs: list[dict[str, Any]] = []

    def seed(self, count: int) -> None:
        job_ids = seed(
            self.store,
            projects=count,
            jobs_per_project=1,
            job={"kind": "send", "schedule": {"mode": "manual"}},
        )
        self.jobs = jobs_by_id(self.store, job_ids)

    def workers(self, side: str) -> Workers:
        module, queue = (
            ("worker.app", RUNS_QUEUE) if side == "full" else ("bench._bare_actor", BARE_QUEUE)
        )
        return Workers(
            self.env,
            self.workdir / f"workers-{side}.log",
            processes=self.args.processes,
            threads=self.args.threads,
            module=module,
            queues=(queue,),
        )

    def send(self, side: str, jobs: list[dict[str, Any]]) -> list[str]:
        """Send a message (bare) or claim and send a run (full) per job; the run ids."""
        run_ids = []
        for n, job in enumerate(jobs):
            if side == "bare":
                self.broker.enqueue(
                    Message(
                        queue_name=BARE_QUEUE,
                        actor_name=BARE_ACTOR,
                        args=(n,),
                        kwargs={},
                        options={},
                    )
                )
                continue
            run = claim_run(self.store, job, Trigger.MANUAL)
            assert run is not None, f"job {job['_id']} still has a run pending"
            submit_run(self.store, self.broker, run)
            run_ids.append(run["_id"])
        return run_ids

    def measure(self, side: str, jobs: list[dict[str, Any]], workers: Workers) -> Round:
        queue = RUNS_QUEUE if side == "full" else BARE_QUEUE
        workers_cpu, server_cpu = workers.cpu_s(), process_cpu_s(self.server_pid)
        sender_cpu = own_cpu_s()
        started = time.perf_counter()
        run_ids = self.send(side, jobs)
        send_s = time.perf_counter() - started
        if not wait_until(lambda: queue_pending(self.redis, queue) == 0, WAIT_S):
            say(f"{side}: messages still pending after {WAIT_S:g} s")
        wall_s = time.perf_counter() - started
        states: dict[str, int] = {}
        runs = runs_by_id(self.store, run_ids)
        for run in runs:
            states[run["state"]] = states.get(run["state"], 0) + 1
        ended = [r for r in runs if r["started_at"] and r["finished_at"]]
        span_s = None
        if ended:
            span_ms = max(r["finished_at"] for r in ended) - min(r["started_at"] for r in ended)
            span_s = span_ms / 1000
        return Round(
            side,
            len(jobs),
            send_s,
            wall_s,
            workers.cpu_s() - workers_cpu,
            process_cpu_s(self.server_pid) - server_cpu,
            own_cpu_s() - sender_cpu,
            states,
            span_s,
        )

    def round(self, side: str) -> Round:
        warm = self.jobs[: self.args.processes * self.args.threads * 2]
        with self.workers(side) as workers:
            self.measure(side, warm, workers)
            result = self.measure(side, self.jobs, workers)
        say(f"{side}: {result.rate:.0f} messages/s ({result.wall_s:.1f} s)")
        return result


def _report(args: argparse.Namespace, rounds: list[Round], load: tuple[str, str]) -> None:
    print()
    print(
        f"dispatch: {args.runs} no-op messages a round, {args.processes} worker processes × "
        f"{args.threads} threads, Redis db {REDIS_DB}, nx-27017 of its own"
    )
    print(f"  before: {load[0]}\n  after:  {load[1]}")
    print(
        "| side | round | sent in s | wall s | messages/s | CPU ms a message: workers"
        " / db / sender | runs |"
    )
    print("|---|---|---|---|---|---|---|")
    for n, r in enumerate(rounds):
        per_k = 1000 / r.messages
        print(
            f"| {r.side} | {n // 2 + 1} | {r.send_s:.2f} | {r.wall_s:.2f} | {r.rate:,.0f} "
            f"| {r.workers_cpu_s * per_k:.2f} / {r.server_cpu_s * per_k:.2f} / "
            f"{r.sender_cpu_s * per_k:.2f} | {r.states or '-'} |"
        )
    best = {side: max(r.rate for r in rounds if r.side == side) for side in ("full", "bare")}
    median = {side: statistics.median(r.rate for r in rounds if r.side == side) for side in best}
    ratio = best["full"] / best["bare"]
    verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
    print(
        f"  full path {best['full']:,.0f} runs/s, bare actor {best['bare']:,.0f} messages/s "
        f"(best rounds; medians {median['full']:,.0f} and {median['bare']:,.0f})"
    )
    print(f"  full ÷ bare: {ratio:.1%} (target ≥ {TARGET_RATIO:.0%}: {verdict})")
    full = max((r for r in rounds if r.side == "full"), key=lambda r: r.rate)
    if full.runs_span_s:
        print(
            f"  full path as the runs record it (first start to last end, not counting the "
            f"sending of the first runs): {full.messages / full.runs_span_s:,.0f} runs/s"
        )
    cpu_ms = (full.workers_cpu_s + full.server_cpu_s + full.sender_cpu_s) * 1000 / full.messages
    cores = os.cpu_count() or 1
    print(
        f"  the full path costs {cpu_ms:.1f} CPU ms a run in all (workers, database server, "
        f"sender): {cores} CPUs cap it near {cores * 1000 / cpu_ms:,.0f} runs/s"
    )
    unfinished = sum(n for r in rounds for s, n in r.states.items() if s != "succeeded")
    if unfinished:
        print(f"  note: {unfinished} runs did not succeed; see the worker logs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dispatch", description=__doc__)
    parser.add_argument("--runs", type=int, default=2000, help="messages a round (2000)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per process (4)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each side (2)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    args = parser.parse_args(argv)
    with work_folder("dispatch", keep=args.keep) as workdir:
        before = load_average()
        rounds: list[Round] = []
        with nx_server(workdir) as (mongo_url, server_pid), redis_db(REDIS_DB) as redis_url:
            bench = Bench(args, workdir, mongo_url, redis_url)
            bench.server_pid = server_pid
            say(f"seeding {args.runs} projects …")
            bench.seed(args.runs)
            for _ in range(args.rounds):
                for side in ("bare", "full"):
                    rounds.append(bench.round(side))
            bench.broker.close()
        _report(args, rounds, (before, load_average()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
