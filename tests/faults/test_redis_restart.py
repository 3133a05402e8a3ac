"""Redis restarted empty in the middle of runs (a private redis-server, never the shared one):
the broker's queued messages, the leases and the ticker's leadership are gone. The store is the
source of truth: the ticker sends again every run still queued, every run ends `succeeded`,
and a scheduled fire that fell due during the outage fires once, after it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymongo
import pytest

from tests.e2e.farm import Farm
from tests.faults.farm_kit import (
    RedisServer,
    change_states,
    farm_of,
    job,
    received_counts,
    run_now,
    running,
    shop,
    wait_for,
    write_feed,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
PROJECTS = 6
RECORDS = 20


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with running(RedisServer(tmp_path)) as server:
        assert isinstance(server, RedisServer)
        yield server


@pytest.fixture
def farm(nx_url: str, redis_server: RedisServer, tmp_path: Path) -> Iterator[Farm]:
    with farm_of(
        tmp_path, f"{nx_url}/faults_redis_restart", redis_server.url, SYNCFARM_RESEND_AFTER_S="3"
    ) as farm:
        yield farm


def test_runs_queued_when_redis_restarts_empty_all_succeed_and_no_fire_is_missed(
    farm: Farm, redis_server: RedisServer, nx_url: str, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.csv"
    write_feed(feed, RECORDS)
    shops = [shop(farm, f"shop-{n}", feed, batch=5, delay_s=0.5) for n in range(PROJECTS)]
    run_ids = [run_now(farm, s["id"], job(farm, s["id"])) for s in shops]
    wait_for(
        lambda: any(farm.api("GET", f"/runs/{r}").json()["state"] == "running" for r in run_ids),
        20,
        "a run starting",
    )
    at = datetime.now(UTC) + timedelta(seconds=3)
    daily = shop(farm, "daily", feed)
    jid = job(farm, daily["id"], {"mode": "daily", "times": [at.strftime("%H:%M:%S")]})

    redis_server.stop()
    time.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()) + 2)
    assert not farm.api("GET", f"/projects/{daily['id']}/runs").json(), "fired without Redis"
    redis_server.start()

    finished = [farm.wait_for_run(r, {"succeeded", "failed"}, 60) for r in run_ids]
    assert [r["state"] for r in finished] == ["succeeded"] * PROJECTS, finished
    with pymongo.MongoClient(nx_url) as client:
        resent = client["faults_redis_restart"].runs.count_documents(
            {"_id": {"$in": run_ids}, "resent_at": {"$ne": None}}
        )
    assert resent >= 1, "no run was lost with the broker's queue: the test proves nothing"
    for project in shops:
        assert change_states(farm, project["id"], project["channel"]) == {"done": RECORDS}
        assert set(received_counts(farm, project["channel"])) == {
            f"K-{n:04d}" for n in range(RECORDS)
        }

    fired = wait_for(
        lambda: farm.api("GET", f"/projects/{daily['id']}/runs").json(), 20, "the missed fire"
    )
    run = farm.wait_for_run(fired[0]["id"], {"succeeded", "failed"}, 30)
    assert run["state"] == "succeeded", run
    assert run["trigger"] == "schedule" and run["job_id"] == jid
    time.sleep(2)  # a second fire of the same slot would have come by now
    assert len(farm.api("GET", f"/projects/{daily['id']}/runs").json()) == 1
    assert all(proc.poll() is None for proc in farm.processes.values()), "a process exited"
