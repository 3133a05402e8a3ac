"""A real worker process stopped (SIGSTOP) in the middle of a run, past its project lease: the
other worker takes the project and runs the next run; when the stopped one resumes (SIGCONT)
with the feed it read before, its late writes are refused by the project's fencing token, so
the newer run's records and channel sends stay as they are, and the stalled run is tried again
under a new lease."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import redis_client, redis_url
from tests.e2e.farm import Farm
from tests.faults.farm_kit import (
    farm_of,
    job,
    received,
    run_now,
    shop,
    wait_for,
    worker_of,
)
from tests.httpserver import QuietHandler, serving

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
REDIS_DB = 2
RECORDS = 10


def _feed(title: str) -> bytes:
    rows = [f"K-{n:04d},{title} {n},{n}.00" for n in range(RECORDS)]
    return ("sku,title,price\n" + "\n".join(rows) + "\n").encode()


class Feed:
    """A feed served over HTTP. Each request gets the feed as it is when the request arrives;
    the first answer comes only after `first_delay_s`, so its reader is caught waiting."""

    def __init__(self) -> None:
        self.body = _feed("Old")
        self.first_delay_s = 2.0
        self.requests = 0
        self.lock = threading.Lock()

    def answer(self) -> tuple[bytes, float]:
        with self.lock:
            self.requests += 1
            delay_s, self.first_delay_s = self.first_delay_s, 0.0
            return self.body, delay_s


@pytest.fixture
def feed() -> Iterator[tuple[Feed, str]]:
    state = Feed()

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802
            body, delay_s = state.answer()
            time.sleep(delay_s)
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as url:
        yield state, f"{url}/feed.csv"


@pytest.fixture
def farm(nx_url: str, tmp_path: Path) -> Iterator[Farm]:
    redis_client(REDIS_DB)
    try:
        with farm_of(
            tmp_path,
            f"{nx_url}/faults_stalled_worker",
            redis_url(REDIS_DB),
            SYNCFARM_LOCK_TTL_S="3",
            # the stopped worker's message is not redelivered meanwhile: the next run is the
            # only one that takes the project while it is stopped
            SYNCFARM_WORKER_HEARTBEAT_TIMEOUT_S="60",
        ) as farm:
            yield farm
    finally:
        redis_client(REDIS_DB)


def _titles(farm: Farm, pid: str) -> set[str]:
    records = farm.api("GET", f"/projects/{pid}/records?page_size=100").json()
    assert len(records) == RECORDS, records
    return {r["data"]["title"].split()[0] for r in records}


def test_a_stalled_worker_resuming_past_its_lease_overwrites_nothing(
    farm: Farm, feed: tuple[Feed, str]
) -> None:
    state, url = feed
    project = shop(farm, "stalled", url)
    pid, channel = project["id"], project["channel"]
    jid = job(farm, pid)
    stalled_id = run_now(farm, pid, jid)
    wait_for(lambda: state.requests == 1, 20, "the first run reading its feed")
    stalled_run = farm.wait_for_run(stalled_id, {"running"}, 10)
    victim = farm.processes[worker_of(farm, stalled_run)]
    os.killpg(victim.pid, signal.SIGSTOP)
    try:
        state.body = _feed("New")
        newer_id = run_now(farm, pid, jid)
        newer = farm.wait_for_run(newer_id, {"succeeded", "failed"}, 30)
        assert newer["state"] == "succeeded", newer
        assert newer["worker"] != stalled_run["worker"]
        assert _titles(farm, pid) == {"New"}
        stalled_now = farm.api("GET", f"/runs/{stalled_id}").json()
        assert stalled_now["state"] == "running" and stalled_now["attempts"] == 1
    finally:
        os.killpg(victim.pid, signal.SIGCONT)

    stalled = farm.wait_for_run(stalled_id, {"succeeded", "failed"}, 60)
    assert stalled["state"] == "succeeded", stalled
    assert stalled["attempts"] == 2, "the stalled attempt was not refused and tried again"
    assert state.requests == 3, "the stalled run was not read again under its new lease"
    assert _titles(farm, pid) == {"New"}
    assert farm.api("GET", f"/runs/{newer_id}").json() == newer
    sent: list[dict[str, Any]] = received(farm, channel)
    assert sorted(line["key"] for line in sent) == [f"K-{n:04d}" for n in range(RECORDS)]
    assert {line["data"]["title"].split()[0] for line in sent} == {"New"}
