"""The MongoDB wire server stops and comes back: the API answers 503 with a clear message,
quickly, while it is down; the ticker waits and fires what fell due once it is back; a run's
message is retried for as long as the outage lasts instead of being dropped."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pymongo
import pytest
from dramatiq.brokers.stub import StubBroker
from pymongo.errors import ServerSelectionTimeoutError

from api.app import create_app
from core.clock import from_ms
from core.config import Settings
from core.jobs import create_job
from core.projects import create_project
from core.store import Store
from core.tenants import create_tenant
from cron.ticker import Ticker
from tests.conftest import free_port, redis_client
from worker.actors import MAX_RETRIES, retry_when

REDIS_DB = 2


class WireServer:
    """An nx-27017 of this test's own, stopped and started again on the same port and data."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.url = f"mongodb://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("nx-27017") or str(Path(sys.executable).with_name("nx-27017"))
        self.proc = subprocess.Popen(
            [exe, "--data-dir", str(self.data), "--host", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                pymongo.MongoClient(self.url, serverSelectionTimeoutMS=300).admin.command("ping")
                return
            except pymongo.errors.PyMongoError:
                assert time.monotonic() < deadline, "nx-27017 did not start"
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None


@pytest.fixture
def wire_server(tmp_path: Path) -> Iterator[WireServer]:
    server = WireServer(tmp_path / "nx")
    server.data.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(90)
def test_while_the_database_is_down_the_api_answers_503_and_everything_recovers(
    wire_server: WireServer, tmp_path: Path
) -> None:
    redis = redis_client(REDIS_DB)
    settings = replace(
        Settings(),
        mongo_url=f"{wire_server.url}/faults",
        data_dir=tmp_path / "data",
        web_db_timeout_s=1.0,
    )
    broker = StubBroker()
    broker.declare_queue("runs")
    app = create_app(
        {
            "TESTING": True,
            "SYNCFARM_SETTINGS": settings,
            "SYNCFARM_BROKER": broker,
            "SYNCFARM_REDIS": None,
        }
    )
    store = Store.connect(settings.mongo_url, "faults", timeout_ms=1000)
    tenant, key = create_tenant(store, "acme", plan="unlimited")
    project = create_project(store, tenant, {"name": "Shop", "timezone": "UTC"})
    job = create_job(
        store,
        tenant,
        project,
        {"kind": "sync", "schedule": {"mode": "interval", "every_minutes": 1}},
    )
    first_slot = from_ms(job["next_fire_at"])
    clock_now = [first_slot - timedelta(seconds=5)]
    ticker = Ticker(
        store=store,
        client=redis,
        broker=broker,
        lease_s=1.5,
        poll_s=0.2,
        clock=lambda: clock_now[0],
    )
    thread = threading.Thread(target=ticker.run_forever, daemon=True)
    thread.start()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    try:
        assert client.get("/api/v1/projects/", headers=headers).status_code == 200

        wire_server.stop()
        clock_now[0] = first_slot + timedelta(seconds=1)  # a slot falls due while it is down
        started = time.monotonic()
        down = client.get("/api/v1/projects/", headers=headers)
        took_s = time.monotonic() - started
        time.sleep(2)  # the ticker meets the outage

        assert down.status_code == 503
        body = down.get_json()
        assert set(body) >= {"code", "status", "message"} and body["code"] == 503
        assert "database cannot be reached" in body["message"]
        assert took_s < 5, f"the 503 took {took_s:.1f} s"
        assert thread.is_alive()
        assert broker.queues["runs"].qsize() == 0

        wire_server.start()
        deadline = time.monotonic() + 30
        while broker.queues["runs"].qsize() == 0:
            assert time.monotonic() < deadline, "the ticker did not fire after the outage"
            time.sleep(0.1)
        assert client.get("/api/v1/projects/", headers=headers).status_code == 200
        assert store.runs.count_documents({"job_id": job["_id"], "trigger": "schedule"}) == 1
        assert broker.queues["runs"].qsize() == 1
    finally:
        ticker.stop()
        thread.join(15)
        redis_client(REDIS_DB)


def test_a_runs_message_is_retried_for_as_long_as_the_database_is_down() -> None:
    outage = ServerSelectionTimeoutError("127.0.0.1:27017: connection refused")

    assert all(retry_when(retries, outage) for retries in (0, 5, 50, 500))
    assert retry_when(MAX_RETRIES - 1, ValueError("bad"))
    assert not retry_when(MAX_RETRIES, ValueError("bad"))
