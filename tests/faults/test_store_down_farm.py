"""The farm's MongoDB wire server (a private nx-27017) stops in the middle of a run and starts
again on the same port and data: while it is down the API answers 503 with a clear message;
once it is back, the worker finishes the run and the ticker fires what fell due, by themselves,
and no process of the farm exited."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import redis_client, redis_url
from tests.e2e.farm import Farm
from tests.faults.farm_kit import (
    NxServer,
    change_states,
    farm_of,
    job,
    received,
    received_counts,
    run_now,
    running,
    shop,
    wait_for,
    write_feed,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
REDIS_DB = 3
RECORDS = 40
BATCH = 5
OUTAGE_S = 10


@pytest.fixture
def nx(tmp_path: Path) -> Iterator[NxServer]:
    with running(NxServer(tmp_path)) as server:
        assert isinstance(server, NxServer)
        yield server


@pytest.fixture
def farm(nx: NxServer, tmp_path: Path) -> Iterator[Farm]:
    redis_client(REDIS_DB)
    try:
        with farm_of(tmp_path, f"{nx.url}/faults_store_down", redis_url(REDIS_DB)) as farm:
            yield farm
    finally:
        redis_client(REDIS_DB)


def test_while_mongodb_is_down_the_api_answers_503_and_the_farm_recovers_by_itself(
    farm: Farm, nx: NxServer, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.csv"
    write_feed(feed, RECORDS)
    project = shop(farm, "store-down", feed, batch=BATCH, delay_s=0.4)
    channel = project["channel"]
    at = datetime.now(UTC) + timedelta(seconds=4)
    daily = shop(farm, "daily", feed)
    jid = job(farm, daily["id"], {"mode": "daily", "times": [at.strftime("%H:%M:%S")]})
    rid = run_now(farm, project["id"], job(farm, project["id"]))
    wait_for(lambda: len(received(farm, channel)) >= 2 * BATCH, 30, "two batches sent")

    nx.stop()
    stopped = time.monotonic()
    try:
        asked = time.monotonic()
        answer = farm.api("GET", f"/runs/{rid}")
        took_s = time.monotonic() - asked
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["status"] == "Service Unavailable"
        assert "database cannot be reached" in body["message"], body
        assert took_s < 5, f"the 503 took {took_s:.1f} s"
        # down past the fire's time, and twice as long as a worker's database call waits
        time.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()) + 1)
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
    finally:
        nx.start()

    done = farm.wait_for_run(rid, {"succeeded", "failed"}, 60)
    assert done["state"] == "succeeded", done
    assert done["attempts"] >= 2, "the outage did not reach the run: the test proves nothing"
    assert change_states(farm, project["id"], channel) == {"done": RECORDS}
    assert set(received_counts(farm, channel)) == {f"K-{n:04d}" for n in range(RECORDS)}

    fired = wait_for(
        lambda: farm.api("GET", f"/projects/{daily['id']}/runs").json(), 30, "the due fire"
    )
    run = farm.wait_for_run(fired[0]["id"], {"succeeded", "failed"}, 30)
    assert run["state"] == "succeeded" and run["job_id"] == jid, run
    time.sleep(2)  # a second fire of the same slot would have come by now
    assert len(farm.api("GET", f"/projects/{daily['id']}/runs").json()) == 1
    exited = {n: p.returncode for n, p in farm.processes.items() if p.poll() is not None}
    assert not exited, f"processes exited: {exited}"
