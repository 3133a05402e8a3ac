"""Real farms for the fault tests: private servers (Redis, nx-27017) a test may stop and start
again, the tiny third-party channel made visible to the farm's processes only, and shortcuts
for the objects a test needs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymongo
import redis

from tests.conftest import free_port
from tests.e2e.farm import Farm, farm_env, running_farm

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_connector"


def tiny_connector_path(folder: Path) -> str:
    """A PYTHONPATH on which the tiny connector is installed (its package and its entry
    point), for the farm's processes alone: no pip install shared with other tests."""
    site = folder / "site"
    info = site / "syncfarm_tiny_connector-0.1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: syncfarm-tiny-connector\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[syncfarm.connectors]\ntiny = tiny_connector:TinyChannel\n"
    )
    return f"{site}{os.pathsep}{TINY}"


class Server:
    """A server process this test owns, started again on the same port (and data) on demand."""

    def __init__(self, command: list[str], url: str, log: Path) -> None:
        self.command = command
        self.url = url
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not self.ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.command[0]} did not start; see {self.log}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def ping(self) -> bool:
        raise NotImplementedError


class RedisServer(Server):
    """A private redis-server that keeps nothing on disk: restarting it empties it."""

    def __init__(self, folder: Path) -> None:
        port = free_port()
        exe = shutil.which("redis-server") or "redis-server"
        command = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(folder)]
        super().__init__(command, f"redis://127.0.0.1:{port}/0", folder / "redis.log")

    def ping(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False


class NxServer(Server):
    """A private nx-27017 on a fixed port and data folder, so it can be stopped and started."""

    def __init__(self, folder: Path) -> None:
        port = free_port()
        exe = shutil.which("nx-27017") or str(Path(sys.executable).with_name("nx-27017"))
        data = folder / "nx"
        data.mkdir(parents=True, exist_ok=True)
        command = [exe, "--data-dir", str(data), "--host", "127.0.0.1", "-p", str(port)]
        command += ["--log-file", str(data / "nx.log"), "--pid-file", str(data / "nx.pid")]
        super().__init__(command, f"mongodb://127.0.0.1:{port}", folder / "nx-out.log")

    def ping(self) -> bool:
        client: pymongo.MongoClient[Any] = pymongo.MongoClient(
            self.url, serverSelectionTimeoutMS=300
        )
        try:
            client.admin.command("ping")
            return True
        except pymongo.errors.PyMongoError:
            return False
        finally:
            client.close()


@contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def farm_of(
    folder: Path, mongo_url: str, redis_url: str, workers: int = 2, **env: str
) -> Iterator[Farm]:
    """web, cron and `workers` worker processes (one thread each) on the given servers (the
    MongoDB URL names the database), with short leases and a fast redelivery; `env` overrides
    any setting. Every process is stopped on the way out, whatever happened."""
    port = free_port()
    settings = farm_env(
        folder,
        port,
        mongo_url,
        redis_url,
        **{
            "PYTHONPATH": tiny_connector_path(folder),
            "WEB_CONCURRENCY": "1",
            "SYNCFARM_WORKER_THREADS": "1",
            "SYNCFARM_LOCK_TTL_S": "4",
            "SYNCFARM_WORKER_HEARTBEAT_TIMEOUT_S": "4",
            "SYNCFARM_BROKER_MAINTENANCE_CHANCE": "1000000",
            "SYNCFARM_TICKER_POLL_S": "1",
            **env,
        },
    )
    with running_farm(
        settings, folder, port, tenant=["faults", "--plan", "unlimited"], workers=workers
    ) as farm:
        yield farm


def write_feed(path: Path, count: int, title: str = "Item") -> None:
    rows = [f"K-{n:04d},{title} {n},{n}.00" for n in range(count)]
    path.write_text("sku,title,price\n" + "\n".join(rows) + "\n")


def shop(farm: Farm, name: str, feed: Path | str, **tiny: Any) -> dict[str, Any]:
    """A project reading `feed` (a path or URL) and sending to a tiny channel with the
    settings `tiny`."""
    pid = farm.api("POST", "/projects/", {"name": name}).json()["id"]
    source = farm.api(
        "POST",
        f"/projects/{pid}/connections/",
        {"connector": "feed", "role": "source", "settings": {"url": str(feed)}},
    )
    assert source.status_code == 201, source.text
    channel = farm.api(
        "POST",
        f"/projects/{pid}/connections/",
        {"connector": "tiny", "role": "channel", "settings": tiny},
    )
    assert channel.status_code == 201, channel.text
    return {"id": pid, "channel": channel.json()["id"]}


def job(farm: Farm, pid: str, schedule: dict[str, Any] | None = None) -> str:
    body = {"kind": "sync", "schedule": schedule or {"mode": "manual"}}
    answer = farm.api("POST", f"/projects/{pid}/jobs/", body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def run_now(farm: Farm, pid: str, jid: str) -> str:
    answer = farm.api("POST", f"/projects/{pid}/jobs/{jid}/runs")
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def received(farm: Farm, channel_id: str) -> list[dict[str, Any]]:
    """Every change the tiny channel received, in order."""
    path = Path(farm.env["SYNCFARM_DATA_DIR"]) / "tiny" / f"{channel_id}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def received_counts(farm: Farm, channel_id: str) -> Counter[str]:
    return Counter(line["key"] for line in received(farm, channel_id))


def change_states(farm: Farm, pid: str, channel_id: str) -> Counter[str]:
    states: Counter[str] = Counter()
    page = 1
    while True:
        answer = farm.api(
            "GET", f"/projects/{pid}/changes?channel={channel_id}&page={page}&page_size=100"
        )
        assert answer.status_code == 200, answer.text
        docs = answer.json()
        states.update(d["state"] for d in docs)
        if len(docs) < 100:
            return states
        page += 1


def worker_of(farm: Farm, run: dict[str, Any]) -> str:
    """The name of the farm's worker process (group) that runs `run`."""
    pid = int(run["worker"].rsplit(":", 1)[1])
    return next(
        name
        for name, proc in farm.processes.items()
        if name.startswith("worker") and os.getpgid(pid) == proc.pid
    )


def wait_for(check: Any, timeout_s: float, what: str, every_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")
