"""A worker killed (SIGKILL) in the middle of sending: its run is redelivered and completes, and
the channel receives every change. Acknowledgements are written batch by batch, as the channel
answers each, so what the channel may receive twice is exactly the one batch it had taken but
not yet answered when the worker died (the only way to avoid that is a channel that recognizes
a change it already has, e.g. by the change's content hash); a batch it had not taken yet, and
every batch it had answered, it receives once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import redis_client, redis_url
from tests.e2e.farm import Farm
from tests.faults.farm_kit import (
    change_states,
    farm_of,
    job,
    received,
    received_counts,
    run_now,
    shop,
    wait_for,
    worker_of,
    write_feed,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
REDIS_DB = 1
RECORDS = 60
BATCH = 10
ALL_KEYS = [f"K-{n:04d}" for n in range(RECORDS)]


@pytest.fixture
def farm(nx_url: str, tmp_path: Path) -> Iterator[Farm]:
    redis_client(REDIS_DB)
    try:
        with farm_of(tmp_path, f"{nx_url}/faults_worker_killed", redis_url(REDIS_DB)) as farm:
            yield farm
    finally:
        redis_client(REDIS_DB)


def _kill_worker_of(farm: Farm, run_id: str) -> dict[str, object]:
    running = farm.api("GET", f"/runs/{run_id}").json()
    assert running["state"] == "running", running
    farm.kill(worker_of(farm, running))
    return dict(running)


def _assert_completed_without_loss(
    farm: Farm, project: dict[str, str], run_id: str, killed: dict[str, object]
) -> None:
    done = farm.wait_for_run(run_id, {"succeeded", "failed"}, 60)
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2
    assert done["worker"] != killed["worker"]
    assert change_states(farm, project["id"], project["channel"]) == {"done": RECORDS}
    assert sorted(received_counts(farm, project["channel"])) == ALL_KEYS, "a change was lost"


def test_a_worker_killed_before_the_channel_took_a_batch_sends_every_change_once(
    farm: Farm, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.csv"
    write_feed(feed, RECORDS)
    project = shop(farm, "killed-before", feed, batch=BATCH, delay_s=1.0)
    rid = run_now(farm, project["id"], job(farm, project["id"]))
    # two batches answered and acknowledged: the worker now waits to hand over the third
    wait_for(
        lambda: change_states(farm, project["id"], project["channel"])["done"] == 2 * BATCH,
        30,
        "two batches acknowledged",
        every_s=0.05,
    )
    killed = _kill_worker_of(farm, rid)
    assert len(received(farm, project["channel"])) == 2 * BATCH

    _assert_completed_without_loss(farm, project, rid, killed)
    counts = received_counts(farm, project["channel"])
    assert [key for key, seen in counts.items() if seen > 1] == [], "a change was sent twice"


def test_a_worker_killed_before_the_channel_answered_resends_only_that_batch(
    farm: Farm, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.csv"
    write_feed(feed, RECORDS)
    project = shop(farm, "killed-after", feed, batch=BATCH, answer_delay_s=1.0)
    rid = run_now(farm, project["id"], job(farm, project["id"]))
    # the channel has taken a third batch and not answered it yet
    wait_for(
        lambda: len(received(farm, project["channel"])) == 3 * BATCH,
        30,
        "a third batch taken",
        every_s=0.05,
    )
    killed = _kill_worker_of(farm, rid)
    unanswered = [line["key"] for line in received(farm, project["channel"])[2 * BATCH :]]

    _assert_completed_without_loss(farm, project, rid, killed)
    counts = received_counts(farm, project["channel"])
    twice = [key for key, seen in counts.items() if seen > 1]
    assert sorted(twice) == sorted(unanswered), "more than the unanswered batch came twice"
    assert max(counts.values()) == 2
