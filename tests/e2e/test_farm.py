"""The farm end to end: real web, cron and worker processes from the Procfile, driven through
the REST API only, against the real Redis and an nx-27017 server."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
import requests

from cron.leader import LEADER_KEY
from tests.conftest import free_port, redis_client, redis_url
from tests.e2e.farm import Farm, farm_env, running_farm
from tests.httpserver import QuietHandler, serving

pytestmark = pytest.mark.e2e
REDIS_DB = 14


@pytest.fixture(scope="module")
def slow_feeds() -> Iterator[str]:
    """An HTTP server whose feeds take `?delay=` seconds to answer."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802
            query = parse_qs(urlparse(self.path).query)
            time.sleep(float(query.get("delay", ["0"])[0]))
            body = b"sku,title,price\nS-1,Slow one,1.00\nS-2,Slow two,2.00\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as url:
        yield f"{url}/feed.csv"


@pytest.fixture(scope="module")
def farm(nx_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    redis_client(REDIS_DB)  # flushed; fails loudly without Redis
    work = tmp_path_factory.mktemp("farm")
    port = free_port()
    env = farm_env(
        work,
        port,
        f"{nx_url}/e2e_farm",
        redis_url(REDIS_DB),
        SYNCFARM_LOCK_TTL_S="4",
        SYNCFARM_WORKER_HEARTBEAT_TIMEOUT_S="4",
        SYNCFARM_BROKER_MAINTENANCE_CHANCE="1000000",
    )
    try:
        with running_farm(
            env, work, port, tenant=["e2e", "--plan", "unlimited"], workers=2
        ) as farm:
            yield farm
    finally:
        redis_client(REDIS_DB)


def _project(farm: Farm, name: str, feed_url: str, timezone: str = "UTC") -> dict[str, Any]:
    project = farm.api("POST", "/projects/", {"name": name, "timezone": timezone}).json()
    pid = project["id"]
    source = farm.api(
        "POST",
        f"/projects/{pid}/connections/",
        {"connector": "feed", "role": "source", "settings": {"url": feed_url}},
    )
    assert source.status_code == 201, source.text
    channel = farm.api(
        "POST",
        f"/projects/{pid}/connections/",
        {"connector": "file", "role": "channel", "settings": {"filename": "products.csv"}},
    )
    assert channel.status_code == 201, channel.text
    return {"id": pid, "channel": channel.json()}


def _job(farm: Farm, pid: str, kind: str = "sync", schedule: Any = None) -> str:
    body: dict[str, Any] = {"kind": kind, "schedule": schedule or {"mode": "manual"}}
    job = farm.api("POST", f"/projects/{pid}/jobs/", body)
    assert job.status_code == 201, job.text
    return str(job.json()["id"])


def _run_now(farm: Farm, pid: str, jid: str) -> str:
    answer = farm.api("POST", f"/projects/{pid}/jobs/{jid}/runs")
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def _times(run: dict[str, Any]) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(run["started_at"]), datetime.fromisoformat(run["finished_at"])


def test_a_daily_job_runs_once_at_its_time_and_serves_the_export(
    farm: Farm, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text("sku,title,price\nA-1,Red shirt,19.90\nA-2,Blue shirt,21.50\n")
    zone = "America/New_York"
    shop = _project(farm, "daily", str(feed), timezone=zone)
    at = (datetime.now(ZoneInfo(zone)) + timedelta(seconds=5)).strftime("%H:%M:%S")
    jid = _job(farm, shop["id"], schedule={"mode": "daily", "times": [at]})
    due = datetime.fromisoformat(
        farm.api("GET", f"/projects/{shop['id']}/jobs/{jid}").json()["next_fire_at"]
    )

    deadline = time.monotonic() + 30
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not runs:
        runs = farm.api("GET", f"/projects/{shop['id']}/runs").json()
        time.sleep(0.2)
    assert len(runs) == 1, "the daily job did not fire"
    run = farm.wait_for_run(runs[0]["id"], {"succeeded", "failed"}, 30)
    assert run["state"] == "succeeded", run
    assert run["trigger"] == "schedule"
    assert datetime.fromisoformat(run["queued_at"]) - due < timedelta(seconds=2)
    assert [s["name"] for s in run["stages"]] == ["import", "database", "export:file"]
    assert run["stages"][0]["counts"]["inserted"] == 2

    time.sleep(3)  # a second fire would have happened by now
    assert len(farm.api("GET", f"/projects/{shop['id']}/runs").json()) == 1

    exported = requests.get(shop["channel"]["export_url"], timeout=10)
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["sku"] for r in rows] == ["A-1", "A-2"]


def test_runs_of_different_projects_overlap_in_time(farm: Farm, slow_feeds: str) -> None:
    first = _project(farm, "parallel-1", f"{slow_feeds}?delay=3")
    second = _project(farm, "parallel-2", f"{slow_feeds}?delay=3")
    run_ids = [_run_now(farm, p["id"], _job(farm, p["id"])) for p in (first, second)]
    runs = [farm.wait_for_run(rid, {"succeeded", "failed"}, 60) for rid in run_ids]
    assert all(r["state"] == "succeeded" for r in runs), runs
    (start_a, end_a), (start_b, end_b) = (_times(r) for r in runs)
    assert start_a < end_b and start_b < end_a, "the two projects' runs did not overlap"


def test_two_runs_of_one_project_are_serialized(farm: Farm, slow_feeds: str) -> None:
    shop = _project(farm, "serial", f"{slow_feeds}?delay=2")
    run_ids = [
        _run_now(farm, shop["id"], _job(farm, shop["id"], kind)) for kind in ("sync", "fetch")
    ]
    runs = [farm.wait_for_run(rid, {"succeeded", "failed"}, 60) for rid in run_ids]
    assert all(r["state"] == "succeeded" for r in runs), runs
    runs.sort(key=lambda r: r["started_at"])
    assert _times(runs[1])[0] >= _times(runs[0])[1], "the project's runs overlapped"
    handoff = _times(runs[1])[0] - _times(runs[0])[1]
    assert handoff < timedelta(seconds=1), f"the waiting run started {handoff} after the first"
    assert "waiting" in [t["state"] for t in runs[1]["transitions"]]
    assert all(r["attempts"] == 1 for r in runs)


def test_a_killed_workers_run_still_completes(farm: Farm, slow_feeds: str) -> None:
    shop = _project(farm, "survivor", f"{slow_feeds}?delay=4")
    rid = _run_now(farm, shop["id"], _job(farm, shop["id"]))
    running = farm.wait_for_run(rid, {"running"}, 30)
    worker_pid = int(running["worker"].rsplit(":", 1)[1])
    victim = next(
        name
        for name, proc in farm.processes.items()
        if name.startswith("worker") and os.getpgid(worker_pid) == proc.pid
    )
    farm.kill(victim)
    try:
        done = farm.wait_for_run(rid, {"succeeded", "failed"}, 90)
        assert done["state"] == "succeeded", done
        assert done["attempts"] == 2
        assert done["worker"] != running["worker"]
    finally:
        farm.start(victim, "worker")


def test_a_standby_ticker_takes_over_within_10s_when_the_leader_is_killed(
    farm: Farm, tmp_path: Path
) -> None:
    client = redis_client_no_flush()
    farm.start("cron-2", "cron")
    time.sleep(1)
    leader_pid = int(client.get(LEADER_KEY).decode().split(":")[1])
    leader = next(name for name, proc in farm.processes.items() if proc.pid == leader_pid)
    standby = "cron-2" if leader == "cron" else "cron"
    farm.kill(leader)
    killed_at = time.monotonic()
    while time.monotonic() - killed_at < 15:
        value = client.get(LEADER_KEY)
        if value and int(value.decode().split(":")[1]) == farm.processes[standby].pid:
            break
        time.sleep(0.1)
    took_s = time.monotonic() - killed_at
    assert took_s < 10, f"no standby took over within 10 s ({took_s:.1f} s)"

    feed = tmp_path / "feed.csv"
    feed.write_text("sku\nZ-1\n")
    shop = _project(farm, "after-failover", str(feed))
    at = (datetime.now(ZoneInfo("UTC")) + timedelta(seconds=3)).strftime("%H:%M:%S")
    _job(farm, shop["id"], schedule={"mode": "daily", "times": [at]})
    deadline = time.monotonic() + 20
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not runs:
        runs = farm.api("GET", f"/projects/{shop['id']}/runs").json()
        time.sleep(0.2)
    assert len(runs) == 1, "the new leader did not fire the job"
    farm.start(leader, "cron")


def redis_client_no_flush() -> Any:
    import redis

    return redis.Redis.from_url(redis_url(REDIS_DB))


@pytest.fixture
def tiny_connector_installed() -> Iterator[None]:
    """The third-party package under tests/fixtures, installed with pip into this venv."""
    package = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_connector"
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "install", "--no-deps", str(package)], check=True, timeout=180)
    try:
        yield
    finally:
        subprocess.run([*pip, "uninstall", "-y", "syncfarm-tiny-connector"], timeout=120)


def test_a_connector_installed_with_pip_is_used_by_the_running_farm(
    farm: Farm, tiny_connector_installed: None, tmp_path: Path
) -> None:
    suite = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/plugins/test_connector_suite.py",
            "-k",
            "tiny",
        ],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert suite.returncode == 0, suite.stdout[-2000:]
    assert " passed" in suite.stdout

    feed = tmp_path / "feed.csv"
    feed.write_text("sku,title\nT-1,fine\nT-2,please refuse\n")
    pid = farm.api("POST", "/projects/", {"name": "third-party"}).json()["id"]
    farm.api(
        "POST",
        f"/projects/{pid}/connections/",
        {"connector": "feed", "role": "source", "settings": {"url": str(feed)}},
    )
    tiny = farm.api(
        "POST", f"/projects/{pid}/connections/", {"connector": "tiny", "role": "channel"}
    )
    assert tiny.status_code == 201, tiny.text
    rid = _run_now(farm, pid, _job(farm, pid))
    run = farm.wait_for_run(rid, {"succeeded", "failed"}, 60)
    assert run["state"] == "succeeded", run
    sent = next(s for s in run["stages"] if s["name"] == "send:tiny")
    assert sent["counts"] == {
        "sent": 2,
        "acknowledged": 1,
        "failed": 1,
        "stopped": 0,
        "submitted": 0,
    }
    issues = farm.api("GET", f"/projects/{pid}/issues").json()
    assert [(i["key"], i["code"]) for i in issues] == [("T-2", "TINY-1")]
    received = Path(farm.env["SYNCFARM_DATA_DIR"]) / "tiny" / f"{tiny.json()['id']}.jsonl"
    assert len(received.read_text().splitlines()) == 2


def test_a_burst_of_signed_events_becomes_one_or_two_runs(farm: Farm, tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text("sku,title\nE-1,Event one\n")
    shop = _project(farm, "automatic", str(feed))
    schedule = {"mode": "automatic", "debounce_s": 1, "max_wait_s": 3}
    jid = _job(farm, shop["id"], schedule=schedule)
    connections = farm.api("GET", f"/projects/{shop['id']}/connections/").json()
    source = next(c for c in connections if c["role"] == "source")

    unsigned = requests.post(source["webhook_url"], data=b"{}", timeout=10)
    assert unsigned.status_code == 401, unsigned.text
    for number in range(10):
        body = json.dumps({"order": number}).encode()
        digest = hmac.new(source["webhook_secret"].encode(), body, hashlib.sha256).hexdigest()
        answer = requests.post(
            source["webhook_url"],
            data=body,
            headers={"X-Syncfarm-Signature": f"sha256={digest}"},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["jobs"] == [jid]

    deadline = time.monotonic() + 15
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = farm.api("GET", f"/projects/{shop['id']}/runs").json()
        if runs and all(r["state"] in ("succeeded", "failed") for r in runs):
            break
        time.sleep(0.2)
    time.sleep(2)  # past the debounce: a straggling batch would have fired by now
    runs = farm.api("GET", f"/projects/{shop['id']}/runs").json()
    assert 1 <= len(runs) <= 2, runs
    assert all(r["trigger"] == "event" and r["state"] == "succeeded" for r in runs), runs
    assert sum(r["event_count"] for r in runs) == 10
