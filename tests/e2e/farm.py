"""A whole farm of real processes started from the Procfile, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


class Farm:
    """web, cron and workers as separate process groups; `stop()` kills every one of them."""

    def __init__(self, env: dict[str, str], logs: Path, port: int) -> None:
        self.env = env
        self.logs = logs
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.key = ""

    def start(self, name: str, kind: str) -> subprocess.Popen[bytes]:
        command = procfile()[kind]
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            shlex.split(command),
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(15)

    def stop(self) -> None:
        for name in list(self.processes):
            proc = self.processes[name]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for name, proc in list(self.processes.items()):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            del self.processes[name]

    def cli(self, *args: str) -> str:
        exe = str(Path(sys.executable).with_name("syncfarm"))
        done = subprocess.run(
            [exe, *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    def wait_until_up(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"web did not answer on {self.url}; see {self.logs}")

    def api(self, method: str, path: str, json: Any = None) -> requests.Response:
        return requests.request(
            method,
            f"{self.url}/api/v1{path}",
            json=json,
            timeout=10,
            headers={"Authorization": f"Bearer {self.key}"},
        )

    def wait_for_run(self, run_id: str, states: set[str], timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            run = self.api("GET", f"/runs/{run_id}").json()
            if run["state"] in states:
                return run
            time.sleep(0.2)
        raise AssertionError(f"run {run_id} did not reach {states} in {timeout_s}s: {run}")


def farm_env(
    work: Path, port: int, mongo_url: str, redis_url: str, **settings: str
) -> dict[str, str]:
    """The environment of a test farm's processes: this interpreter's scripts first on PATH,
    the given servers (the MongoDB URL names the database), data under `work`; `settings` add
    or override variables."""
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "SYNCFARM_MONGO_URL": mongo_url,
        "SYNCFARM_REDIS_URL": redis_url,
        "SYNCFARM_BROKER_URL": "",
        "SYNCFARM_DATA_DIR": str(work / "data"),
        "SYNCFARM_WORKER_THREADS": "2",
        "SYNCFARM_TICKER_LEASE_S": "3",
        "PYTHONUNBUFFERED": "1",
        **settings,
    }


@contextlib.contextmanager
def running_farm(
    env: dict[str, str], work: Path, port: int, *, tenant: list[str], workers: int
) -> Iterator[Farm]:
    """web, cron and `workers` workers (`worker-1`…), with a key for the tenant made by
    `syncfarm tenant create *tenant`; every process is stopped on the way out."""
    farm = Farm(env, work, port)
    try:
        farm.key = farm.cli("tenant", "create", *tenant)
        farm.start("web", "web")
        farm.start("cron", "cron")
        for number in range(1, workers + 1):
            farm.start(f"worker-{number}", "worker")
        farm.wait_until_up()
        yield farm
    finally:
        farm.stop()
