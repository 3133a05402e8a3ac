"""Retention benchmark: how long one clean-up pass takes on nx-27017, and whether a pass over
a large collection costs about what a pass over a small one costs.

    python -m bench.retention [--events 20000,100000] [--projects 20] [--max-deletes 5000]

For each event count it seeds a database of its own on an nx-27017 of the benchmark's own:
`--projects` projects, the events spread over them, half of them past the 7-day retention,
plus as many runs (one job per project, half of them past the 30-day retention). Then it runs
`core.retention.clean_up` passes (each deleting at most `--max-deletes` of a kind) until
nothing is left to delete, and prints the time of the first pass, the median pass and the
deletes a second. A pass blocks the ticker's loop while it runs: the target is a first pass
under 2 s, printed, never enforced (the exit status is 0 whatever the numbers).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pymongo

from bench.databases import nx_server
from core.retention import DAY_MS, RetentionPolicy, clean_up
from core.store import Store

TARGET_PASS_S = 2.0


def _seed(store: Store, events: int, projects: int, now: int) -> None:
    store.ensure_indexes()
    store.projects.insert_many([{"_id": f"prj_{p:04d}"} for p in range(projects)])
    batch = []
    for n in range(events):
        old = n % 2 == 0
        batch.append(
            {
                "_id": f"evt_{n:08d}",
                "project_id": f"prj_{n % projects:04d}",
                "received_at": now - (10 if old else 1) * DAY_MS - n,
                "body": {"sku": f"sku{n}", "stock": n % 50},
            }
        )
        if len(batch) == 5000:
            store.events.insert_many(batch)
            batch = []
    if batch:
        store.events.insert_many(batch)
    runs = [
        {
            "_id": f"run_{n:08d}",
            "project_id": f"prj_{n % projects:04d}",
            "job_id": f"job_{n % projects:04d}",
            "state": "succeeded",
            "queued_at": now - (40 if n % 2 == 0 else 1) * DAY_MS - n,
        }
        for n in range(events)
    ]
    for start in range(0, len(runs), 5000):
        store.runs.insert_many(runs[start : start + 5000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", default="20000,100000")
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--max-deletes", type=int, default=5000)
    args = parser.parse_args()
    counts = [int(n) for n in args.events.split(",")]
    first_passes: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp, nx_server(Path(tmp)) as (url, _):
        client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(url)
        for count in counts:
            store = Store(client[f"bench_retention_{count}"])
            now = int(time.time() * 1000)
            started = time.monotonic()
            _seed(store, count, args.projects, now)
            print(f"{count:>8} events and runs seeded in {time.monotonic() - started:.1f} s")
            policy = RetentionPolicy(event_days=7, run_days=30, max_deletes=args.max_deletes)
            passes: list[float] = []
            deleted = 0
            resume_at, resume_after = 0, ""
            while True:
                started = time.monotonic()
                report = clean_up(
                    store,
                    policy,
                    now=now,
                    runs_resume_at=resume_at,
                    events_resume_after=resume_after,
                )
                passes.append(time.monotonic() - started)
                deleted += report.events + report.runs
                resume_at, resume_after = report.runs_resume_at, report.events_resume_after
                if not report.more:
                    break
            first_passes[count] = passes[0]
            verdict = "met" if passes[0] < TARGET_PASS_S else "MISSED"
            print(
                f"{count:>8}: {len(passes)} passes, first {passes[0]:.2f} s "
                f"(target < {TARGET_PASS_S} s: {verdict}), median "
                f"{statistics.median(passes):.2f} s, {deleted / sum(passes):,.0f} deletes/s; "
                f"left {store.events.count_documents({})} events, "
                f"{store.runs.count_documents({})} runs"
            )
        client.close()
    if len(counts) >= 2:
        small, large = counts[0], counts[-1]
        ratio = first_passes[large] / first_passes[small]
        print(f"first pass, {large} vs {small}: x{ratio:.2f} (about 1 means bounded by the pass)")


if __name__ == "__main__":
    main()
