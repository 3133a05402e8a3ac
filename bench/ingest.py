"""Ingest benchmark: a sync run of a large feed, against bare parsing of the same file.

    python -m bench.ingest [--records N] [--formats csv,xml] [--store nx|mongomock] [--keep]
                           [--no-identical] [--profile]

For each format it builds a project (the feed as source, one `file` channel, a sync job) and
times three runs in-process through `worker.actors.execute_run`: the first import, a second
import after 2 % of the prices changed (the steady state), and an identical third run. In the
same session it times bare parsing of the steady-state file (`csv.DictReader`, lxml
`iterparse`) and prints pipeline speed as a ratio of it, with peak memory and database writes.

With `--store nx` (the default) it starts its own nx-27017 on a free port and runs every
measured step in a fresh Python process, so the peak RSS is that process's exact `VmHWM`; with
`--store mongomock` the database lives in this process, the runs do too, and the peak is
`VmRSS` sampled every 50 ms (it includes the in-memory database). Targets are printed, never
enforced: the exit status is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pymongo

from bench import feeds
from bench.databases import mongomock_client, nx_server, work_folder
from bench.probes import (
    RssSampler,
    Traffic,
    WireCounter,
    count_writes,
    own_cpu_s,
    process_cpu_s,
    status_mb,
)
from bench.report import print_report
from core.config import Settings
from core.errors import Invalid
from core.store import Store

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = {"csv": 0.40, "xml": 0.60}
TARGET_RSS_MB = 300.0
PARSE_REPEATS = 3
FEED_SETTINGS: dict[str, dict[str, Any]] = {
    "csv": {"format": "csv"},
    "xml": {"format": "xml", "item_path": "item"},
}


@dataclass
class Step:
    """One measured step of one format."""

    format: str
    name: str
    changed: int | None  # records changed since the previous run; None for a bare parse
    result: dict[str, Any]


# --- running one step ------------------------------------------------------------------------


def _execute_run(store: Store, settings: Settings, job_id: str, profile: str | None) -> dict:
    """Claim a run of the job and execute it as a worker would; the measured part."""
    import dramatiq
    from dramatiq.brokers.stub import StubBroker

    from core import runs as runs_service
    from core.models import Trigger
    from worker import runtime

    if not isinstance(dramatiq.get_broker(), StubBroker):
        dramatiq.set_broker(StubBroker())
    runtime.store = lambda: store  # type: ignore[assignment]
    runtime.settings = lambda: settings  # type: ignore[assignment]
    from worker.actors import execute_run

    job = store.jobs.find_one({"_id": job_id})
    assert job is not None
    run = runs_service.claim_run(store, job, Trigger.MANUAL)
    assert run is not None
    cpu, started = own_cpu_s(), time.perf_counter()
    with RssSampler() as memory:
        if profile is not None:
            profiler = cProfile.Profile()
            profiler.runcall(execute_run.fn, run["_id"])
            profiler.dump_stats(profile)
        else:
            execute_run.fn(run["_id"])
    wall_s, cpu_s = time.perf_counter() - started, own_cpu_s() - cpu
    done = store.runs.find_one({"_id": run["_id"]}) or {}
    return {
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "sampled_peak_rss_mb": memory.peak_mb,
        "state": done.get("state"),
        "error": (done.get("error") or {}).get("message"),
        "stages": [
            {
                "name": s["name"],
                "s": ((s["finished_at"] or s["started_at"]) - s["started_at"]) / 1000,
                "counts": s["counts"],
                "peak_rss_mb": memory.peak_between(
                    s["started_at"], s["finished_at"] or s["started_at"]
                ),
            }
            for s in done.get("stages", [])
        ],
    }


def _child(payload_path: str) -> None:
    """A measured step in a fresh process: `run` (a sync run on nx-27017) or `parse`."""
    payload = json.loads(Path(payload_path).read_text())
    start_rss = status_mb("VmRSS")
    if payload["kind"] == "parse":
        result: dict[str, Any] = {"bytes": Path(payload["path"]).stat().st_size}
        for _ in range(PARSE_REPEATS):  # the best of a few: the baseline is short, so noisy
            started, cpu = time.perf_counter(), own_cpu_s()
            records = feeds.PARSERS[payload["format"]](Path(payload["path"]))
            wall_s = time.perf_counter() - started
            if wall_s < result.get("wall_s", float("inf")):
                result.update(wall_s=wall_s, cpu_s=own_cpu_s() - cpu, records=records)
    else:
        counter = WireCounter()
        client: pymongo.MongoClient[Any] = pymongo.MongoClient(
            payload["url"], tz_aware=True, event_listeners=[counter]
        )
        store = Store(client[payload["db"]])
        settings = _settings(payload["url"], payload["db"], Path(payload["data_dir"]))
        result = _execute_run(store, settings, payload["job_id"], payload.get("profile"))
        result["traffic"] = counter.traffic.as_dict()
        client.close()
    result.update(
        peak_rss_mb=status_mb("VmHWM"), start_rss_mb=start_rss, rss_method="VmHWM, fresh process"
    )
    Path(payload["result"]).write_text(json.dumps(result))


def _settings(url: str, db: str, data_dir: Path) -> Settings:
    return replace(
        Settings(), mongo_url=f"{url}/{db}", broker_url="stub://", data_dir=data_dir.resolve()
    )


class Session:
    """The temporary folder, the database, and how steps are executed."""

    def __init__(self, workdir: Path, store_kind: str, url: str | None, server_pid: int | None):
        self.workdir = workdir
        self.store_kind = store_kind
        self.url = url
        self.server_pid = server_pid
        self._mongomock: Any = None
        self._steps = 0

    def store(self, db: str) -> Store:
        if self.store_kind == "nx":
            assert self.url is not None
            return Store(pymongo.MongoClient(self.url, tz_aware=True)[db])
        if self._mongomock is None:
            self._mongomock = mongomock_client()
        return Store(self._mongomock[db])

    def _subprocess(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._steps += 1
        payload_path = self.workdir / f"step-{self._steps}.json"
        payload["result"] = str(self.workdir / f"step-{self._steps}.result.json")
        payload_path.write_text(json.dumps(payload))
        server_cpu = process_cpu_s(self.server_pid) if self.server_pid else 0.0
        with RssSampler(self.server_pid or "self") as server:
            done = subprocess.run(
                [sys.executable, "-m", "bench.ingest", "--step", str(payload_path)], cwd=REPO
            )
        if done.returncode != 0:
            return {"state": "crashed", "error": f"the step exited with {done.returncode}"}
        result: dict[str, Any] = json.loads(Path(payload["result"]).read_text())
        if self.server_pid:
            result["server_cpu_s"] = process_cpu_s(self.server_pid) - server_cpu
            result["server_rss_mb"] = server.peak_mb
        return result

    def parse(self, fmt: str, path: Path) -> dict[str, Any]:
        return self._subprocess({"kind": "parse", "format": fmt, "path": str(path)})

    def run(self, db: str, job_id: str, profile: Path | None = None) -> dict[str, Any]:
        data_dir = self.workdir / "data"
        if self.store_kind == "nx":
            assert self.url is not None
            payload: dict[str, Any] = {"kind": "run", "url": self.url, "db": db, "job_id": job_id}
            payload.update(data_dir=str(data_dir), profile=str(profile) if profile else None)
            return self._subprocess(payload)
        store = self.store(db)
        traffic: Traffic = count_writes(store)
        settings = _settings("mongodb://mongomock", db, data_dir)
        result = _execute_run(store, settings, job_id, str(profile) if profile else None)
        result.update(
            traffic=traffic.as_dict(),
            peak_rss_mb=result["sampled_peak_rss_mb"],
            rss_method="VmRSS sampled",
        )
        return result


# --- one format ----------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _project(session: Session, fmt: str, feed: Path) -> tuple[str, str]:
    """A tenant, project, feed source, file channel and sync job in a database of the format's
    own; returns (database, job id). Invalid when the feed settings are refused."""
    from core.connections import create_connection
    from core.jobs import create_job
    from core.projects import create_project
    from core.tenants import create_tenant

    db = f"bench_{fmt}"
    store = session.store(db)
    store.ensure_indexes()
    tenant, _ = create_tenant(store, "bench", plan="unlimited")
    project = create_project(store, tenant, {"name": f"bench {fmt}"})
    settings = {"url": str(feed), **FEED_SETTINGS[fmt]}
    create_connection(store, project, {"connector": "feed", "role": "source", "settings": settings})
    create_connection(store, project, {"connector": "file", "role": "channel"})
    job = create_job(store, tenant, project, {"kind": "sync", "schedule": {"mode": "manual"}})
    return db, job["_id"]


def bench_format(
    session: Session, fmt: str, records: int, *, identical: bool, profile: bool
) -> tuple[list[Step], Path | None]:
    feed = session.workdir / f"feed.{fmt}"
    write: Callable[[Path, int, int], int] = feeds.WRITERS[fmt]

    def generate(version: int) -> None:
        started = time.perf_counter()
        size = write(feed, records, version)
        took = time.perf_counter() - started
        _say(f"{fmt}: wrote version {version} ({size / 1e6:.0f} MB) in {took:.1f} s")

    generate(0)
    try:
        db, job_id = _project(session, fmt, feed)
    except Invalid as exc:
        _say(f"{fmt}: skipped, the feed connector refuses its settings: {exc.message}")
        return [Step(fmt, "skipped", None, {"state": "skipped", "error": exc.message})], None
    steps: list[Step] = []

    def measure(name: str, changed: int) -> bool:
        _say(f"{fmt}: {name} …")
        result = session.run(db, job_id)
        steps.append(Step(fmt, name, changed, result))
        _say(f"{fmt}: {name}: {result.get('state')} in {result.get('wall_s', 0):.1f} s")
        return result.get("state") == "succeeded"

    if not measure("first import", records):
        return steps, None
    generate(1)
    measure("2 % changed", feeds.changed_between(records, 1))
    _say(f"{fmt}: bare parse …")
    steps.append(Step(fmt, "bare parse", None, session.parse(fmt, feed)))
    if identical:
        measure("identical", 0)
    if not profile:
        return steps, None
    generate(2)
    profile_path = session.workdir / f"profile-{fmt}.prof"
    _say(f"{fmt}: profiling another 2 % run (not in the table) …")
    session.run(db, job_id, profile=profile_path)
    return steps, profile_path


def print_profile(fmt: str, path: Path, top: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    print(f"\n## Profile of a 2 % run, {fmt}: own time (cProfile, {path.name})")
    print(_trim_pstats(out.getvalue()))
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("cumulative").print_stats(r"/(core|plugins|worker)/", top)
    print(f"## Profile of a 2 % run, {fmt}: cumulative time in syncfarm code")
    print(_trim_pstats(out.getvalue()).replace(str(REPO) + "/", ""))


def _trim_pstats(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(line for line in lines[start:] if line.strip())


# --- command line --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,xml", help="comma-separated: csv, xml")
    parser.add_argument("--store", choices=("nx", "mongomock"), default="nx")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--identical",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a third run with nothing changed (default: on)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile one more 2 %% run per format (cProfile)"
    )
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        _child(args.step)
        return 0
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(feeds.WRITERS))
    if unknown:
        parser.error(f"unknown formats {unknown}; use csv and/or xml")
    with work_folder("ingest", keep=args.keep) as workdir:
        load_before = os.getloadavg()[0]
        steps: list[Step] = []
        profiles: list[tuple[str, Path]] = []
        with _database(workdir, args.store) as session:
            for fmt in formats:
                done, profile = bench_format(
                    session, fmt, args.records, identical=args.identical, profile=args.profile
                )
                steps += done
                if profile is not None:
                    profiles.append((fmt, profile))
        print_report(
            steps,
            records=args.records,
            store=args.store,
            load=(load_before, os.getloadavg()[0]),
            target_ratio=TARGET_RATIO,
            target_rss_mb=TARGET_RSS_MB,
        )
        for fmt, path in profiles:
            print_profile(fmt, path, args.profile_top)
    return 0


@contextmanager
def _database(workdir: Path, store_kind: str) -> Iterator[Session]:
    if store_kind == "mongomock":
        yield Session(workdir, store_kind, None, None)
        return
    with nx_server(workdir) as (url, pid):
        yield Session(workdir, store_kind, url, pid)


if __name__ == "__main__":
    sys.exit(main())
