"""What the scale benchmarks share: a Redis database of their own, projects and jobs seeded in
bulk with natural ids, worker processes started as production starts them, percentiles."""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import redis

from core.store import Store

REPO = Path(__file__).resolve().parents[1]
#: Dramatiq's Redis keys (its default namespace): worker heartbeats, a queue's messages.
HEARTBEATS_KEY = "dramatiq:__heartbeats__"
#: The queue and actor of `bench._bare_actor`.
BARE_QUEUE = "bare"
BARE_ACTOR = "bare_noop"


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile (p50 of [1, 2, 3, 4] is 2); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def wait_until(done: Callable[[], bool], timeout_s: float, every_s: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(every_s)
    return True


@contextmanager
def redis_db(db: int) -> Iterator[str]:
    """The URL of Redis database `db`, flushed before and after."""
    base = os.environ.get("SYNCFARM_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
    url = f"{base}/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


# --- projects and jobs ----------------------------------------------------------------------


def seed(
    store: Store,
    *,
    projects: int,
    jobs_per_project: int,
    job: dict[str, Any],
    next_fire_at: Callable[[int], int | None] | None = None,
    prefix: str = "bench",
    chunk: int = 5000,
) -> list[str]:
    """Bulk-insert `projects` copies of a project made by `core.projects.create_project`, each
    with `jobs_per_project` copies of `job` (the fields given to `core.jobs.create_job`),
    under natural ids (`prj_bench_000001`, `job_bench_0000010`; `prefix` replaces `bench`);
    returns the job ids in order. `next_fire_at(i)` sets the i-th job's next fire time."""
    from core.jobs import create_job
    from core.projects import create_project
    from core.tenants import create_tenant

    store.ensure_indexes()
    tenant, _ = create_tenant(store, prefix, plan="unlimited")
    template_project = create_project(store, tenant, {"name": "bench template"})
    template_job = create_job(store, tenant, template_project, job)
    store.jobs.delete_one({"_id": template_job["_id"]})
    store.projects.delete_one({"_id": template_project["_id"]})
    job_ids: list[str] = []
    project_docs: list[dict[str, Any]] = []
    job_docs: list[dict[str, Any]] = []

    def flush(force: bool = False) -> None:
        for docs, collection in ((project_docs, store.projects), (job_docs, store.jobs)):
            if docs and (force or len(docs) >= chunk):
                collection.insert_many(docs, ordered=False)
                docs.clear()

    for p in range(projects):
        project = dict(template_project, _id=f"prj_{prefix}_{p:06d}", name=f"{prefix} {p}")
        project_docs.append(project)
        for j in range(jobs_per_project):
            i = p * jobs_per_project + j
            doc = copy.deepcopy(template_job)
            doc.update(_id=f"job_{prefix}_{i:07d}", project_id=project["_id"])
            if next_fire_at is not None:
                doc["next_fire_at"] = next_fire_at(i)
            job_docs.append(doc)
            job_ids.append(doc["_id"])
        flush()
    flush(force=True)
    return job_ids


# --- worker processes -------------------------------------------------------------------------


def farm_env(mongo_url: str, redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a farm process of the benchmark (its own database and Redis)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCFARM_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        SYNCFARM_MONGO_URL=mongo_url,
        SYNCFARM_REDIS_URL=redis_url,
        SYNCFARM_DATA_DIR=str(data_dir),
    )
    env.update(extra)
    return env


class Workers:
    """A group of Dramatiq worker processes (`processes` × `threads`), started in a session of
    their own and stopped (SIGTERM, then SIGKILL) on the way out of the `with` block.

    `module` is what `dramatiq` imports: `worker.app` is the farm's worker exactly as
    `syncfarm worker` starts it; the queues default to the farm's `runs`.
    """

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        *,
        processes: int,
        threads: int,
        module: str = "worker.app",
        queues: tuple[str, ...] = ("runs",),
        poll_ms: int = 100,
    ) -> None:
        self.env = dict(env, dramatiq_worker_timeout=str(poll_ms))
        self.log = log
        self.processes = processes
        self.command = [
            str(Path(sys.executable).with_name("dramatiq")),
            module,
            "--processes",
            str(processes),
            "--threads",
            str(threads),
            "--queues",
            *queues,
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def cpu_s(self) -> float:
        """CPU seconds the group's processes have used so far."""
        return group_cpu_s(self.proc.pid) if self.proc is not None else 0.0

    def __enter__(self) -> Workers:
        client = redis.Redis.from_url(self.env["SYNCFARM_REDIS_URL"])
        client.delete(HEARTBEATS_KEY)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # Each worker process's consumers poll the broker, which records a heartbeat per
        # process: once there are `processes` of them, every process is consuming.
        started = wait_until(
            lambda: (
                cast(int, client.zcard(HEARTBEATS_KEY)) >= self.processes
                or self.proc is None
                or self.proc.poll() is not None
            ),
            timeout_s=60,
            every_s=0.05,
        )
        client.close()
        if not started or self.proc.poll() is not None:
            self.__exit__()
            raise RuntimeError(f"the workers did not start; see {self.log}")
        return self

    def __exit__(self, *exc: object) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        # Dramatiq's worker processes are children of the CLI; make sure none is left.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds used so far by the live processes of process group `pgid`."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def queue_pending(client: redis.Redis, queue: str) -> int:
    """Messages of a Dramatiq queue not yet acknowledged (queued or being processed)."""
    return cast(int, client.hlen(f"dramatiq:{queue}.msgs"))


def jobs_by_id(store: Store, job_ids: list[str]) -> list[dict[str, Any]]:
    """The jobs, fetched by `_id`, in the order of `job_ids`."""
    jobs: list[dict[str, Any]] = []
    for start in range(0, len(job_ids), 1000):
        jobs += store.jobs.find({"_id": {"$in": job_ids[start : start + 1000]}})
    order = {job_id: n for n, job_id in enumerate(job_ids)}
    return sorted(jobs, key=lambda job: order[job["_id"]])


def runs_by_id(store: Store, run_ids: list[str]) -> list[dict[str, Any]]:
    """The runs, fetched by `_id` (the one lookup every store answers fast)."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(run_ids), 1000):
        found += store.runs.find({"_id": {"$in": run_ids[start : start + 1000]}})
    return found
