"""Horizontal scale benchmark: 200 I/O-bound runs across 1, 2 and 4 worker processes.

    python -m bench.scale [--runs 200] [--processes 1,2,4] [--threads 2] [--delay-s 0.5]

Each run is a `fetch` of a project whose source is a CSV feed served by a slow fake API: a
local HTTP server of the benchmark that waits `--delay-s` before answering each request (10
records). For each process count it makes `--runs` projects in a database of its own (on an
nx-27017 of the benchmark's own), starts that many worker processes of `--threads` threads
(`worker.app`, as `syncfarm worker` starts them) on Redis database 6 (flushed before and
after), sends one run of each project at once (as "run now" does) and times the first send to
the last run's end.

Printed for each: the wall time, the speed-up over the first process count, the efficiency
(speed-up ÷ processes ratio), the most requests the API saw at once, the ideal wall time
(runs × delay ÷ threads in all) and the CPU seconds the workers and the database server spent
(an I/O-bound run costs little CPU; when the CPUs fill up, adding processes stops helping).
The default of 2 threads keeps the 4-process case's waiting (about 12 s) well above the CPU
200 runs cost on a 2-CPU machine, so the figures are about the farm rather than the CPUs.
Target: the wall time drops close to proportionally (efficiency near 1). Targets are printed,
never enforced: the exit status is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pymongo
import redis

from bench._fleet import (
    Workers,
    farm_env,
    load_average,
    queue_pending,
    redis_db,
    runs_by_id,
    say,
    wait_until,
)
from bench.databases import nx_server, work_folder
from bench.probes import process_cpu_s
from core.config import Settings
from core.models import Trigger
from core.runs import claim_run
from core.store import Store
from tests.httpserver import QuietHandler, serving
from worker.broker import RUNS_QUEUE, build_broker
from worker.enqueue import submit_run

REDIS_DB = 6
#: The fake API is on loopback, which the farm refuses unless allowed.
ALLOW_ENV, ALLOW_API = "SYNCFARM_ALLOW_PRIVATE_URLS", "127.0.0.1/32"
RECORDS = 10
#: "Close to proportionally": speed-up ÷ processes at least this.
TARGET_EFFICIENCY = 0.8
WAIT_S = 900.0


class SlowApi:
    """The fake API: answers each request after `delay_s`, counting requests in flight."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.in_flight = 0
        self.most_in_flight = 0
        self.requests = 0
        self.lock = threading.Lock()

    def handler(self) -> type[QuietHandler]:
        api = self
        rows = "".join(f"S-{n},Item {n},{n}.00,{n}\n" for n in range(RECORDS))
        body = f"sku,title,price,stock\n{rows}".encode()

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                with api.lock:
                    api.requests += 1
                    api.in_flight += 1
                    api.most_in_flight = max(api.most_in_flight, api.in_flight)
                try:
                    time.sleep(api.delay_s)
                    self.send_response(200)
                    self.send_header("Content-Type", "text/csv")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with api.lock:
                        api.in_flight -= 1

        return Handler

    def reset(self) -> None:
        with self.lock:
            self.requests = self.most_in_flight = 0


@dataclass
class Result:
    processes: int
    wall_s: float
    states: dict[str, int]
    most_in_flight: int
    workers_cpu_s: float
    server_cpu_s: float


def _projects(store: Store, count: int, feed_url: str) -> list[dict[str, Any]]:
    """`count` projects, each with the slow feed as source and a manual `fetch` job."""
    from core.connections import create_connection
    from core.jobs import create_job
    from core.projects import create_project
    from core.tenants import create_tenant

    store.ensure_indexes()
    tenant, _ = create_tenant(store, "bench", plan="unlimited")
    jobs = []
    for n in range(count):
        project = create_project(store, tenant, {"name": f"bench scale {n}"})
        settings = {"url": feed_url, "format": "csv"}
        create_connection(
            store, project, {"connector": "feed", "role": "source", "settings": settings}
        )
        jobs.append(
            create_job(store, tenant, project, {"kind": "fetch", "schedule": {"mode": "manual"}})
        )
    return jobs


def bench_processes(
    args: argparse.Namespace,
    processes: int,
    api: SlowApi,
    feed_url: str,
    urls: tuple[str, str],
    workdir: Path,
    server_pid: int,
) -> Result:
    mongo_url, redis_url = urls
    database = f"bench_scale_p{processes}"
    store = Store(pymongo.MongoClient(mongo_url, tz_aware=True)[database])
    client = redis.Redis.from_url(redis_url)
    broker = build_broker(replace(Settings(), broker_url=redis_url, redis_url=redis_url))
    say(f"{processes} processes: making {args.runs} projects …")
    jobs = _projects(store, args.runs, feed_url)
    env = farm_env(f"{mongo_url}/{database}", redis_url, workdir / "data", **{ALLOW_ENV: ALLOW_API})
    log = workdir / f"workers-{processes}.log"
    with Workers(env, log, processes=processes, threads=args.threads) as workers:
        say(f"{processes} processes × {args.threads} threads: {args.runs} runs …")
        api.reset()
        workers_cpu, server_cpu = workers.cpu_s(), process_cpu_s(server_pid)
        started = time.perf_counter()
        run_ids = []
        for job in jobs:
            run = claim_run(store, job, Trigger.MANUAL)
            assert run is not None
            submit_run(store, broker, run)
            run_ids.append(run["_id"])
        wait_until(lambda: queue_pending(client, RUNS_QUEUE) == 0, WAIT_S, every_s=0.02)
        wall_s = time.perf_counter() - started
        workers_cpu_s = workers.cpu_s() - workers_cpu
        server_cpu_s = process_cpu_s(server_pid) - server_cpu
    states: dict[str, int] = {}
    for run in runs_by_id(store, run_ids):
        states[run["state"]] = states.get(run["state"], 0) + 1
    broker.close()
    client.close()
    say(f"{processes} processes: {wall_s:.1f} s, {states}")
    return Result(processes, wall_s, states, api.most_in_flight, workers_cpu_s, server_cpu_s)


def _report(args: argparse.Namespace, results: list[Result], load: tuple[str, str]) -> None:
    print()
    print(
        f"scale: {args.runs} fetch runs, each waiting {args.delay_s:g} s on a slow fake API, "
        f"{args.threads} threads a worker process; Redis db {REDIS_DB}, nx-27017 of its own"
    )
    print(f"  before: {load[0]}\n  after:  {load[1]}")
    print(
        "| processes | wall s | ideal s | speed-up | efficiency | most requests at once "
        "| CPU s workers / db | runs |"
    )
    print("|---|---|---|---|---|---|---|---|")
    base = results[0]
    for r in results:
        ideal = args.runs * args.delay_s / (r.processes * args.threads)
        speedup = base.wall_s / r.wall_s
        efficiency = speedup / (r.processes / base.processes)
        print(
            f"| {r.processes} | {r.wall_s:.1f} | {ideal:.1f} | {speedup:.2f} | {efficiency:.2f} "
            f"| {r.most_in_flight} | {r.workers_cpu_s:.1f} / {r.server_cpu_s:.1f} "
            f"| {r.states} |"
        )
    worst = (
        min((base.wall_s / r.wall_s) / (r.processes / base.processes) for r in results[1:])
        if len(results) > 1
        else 1.0
    )
    verdict = "met" if worst >= TARGET_EFFICIENCY else "MISSED"
    print(f"  lowest efficiency {worst:.2f} (target ≥ {TARGET_EFFICIENCY:g}: {verdict})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="runs for each process count (200)")
    parser.add_argument("--processes", default="1,2,4", help="comma-separated process counts")
    parser.add_argument("--threads", type=int, default=2, help="threads per process (2)")
    parser.add_argument("--delay-s", type=float, default=0.5, help="the API's answer time (0.5)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.processes.split(",") if n.strip()]
    os.environ[ALLOW_ENV] = ALLOW_API  # the projects' feed settings are checked here too
    with work_folder("scale", keep=args.keep) as workdir:
        api = SlowApi(args.delay_s)
        before = load_average()
        with (
            nx_server(workdir) as (mongo_url, server_pid),
            redis_db(REDIS_DB) as redis_url,
            serving(api.handler()) as base_url,
        ):
            results = [
                bench_processes(
                    args,
                    processes,
                    api,
                    f"{base_url}/feed.csv",
                    (mongo_url, redis_url),
                    workdir,
                    server_pid,
                )
                for processes in counts
            ]
        _report(args, results, (before, load_average()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
