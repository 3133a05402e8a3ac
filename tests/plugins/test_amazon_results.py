"""The `amazon.results` task: Amazon's verdict on each record, once a feed is processed."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConnectorError
from plugins.amazon import RESULTS_TASK
from plugins.base import TaskContext
from tests.plugins.fake_spapi import (  # noqa: F401
    CONFLICT,
    FakeSpApi,
    Ledger,
    Sleeps,
    fake_spapi,
    fresh_amazon_caches,
    insert,
    make_channel,
)

MISSING = ("90220", "'[batteries_required]' is required but not supplied.")


def sent(fake: FakeSpApi, tmp_path: Path, count: int = 3, **options: object) -> Ledger:
    ledger = Ledger(make_channel(fake.url, tmp_path, state={}, **options))
    ledger.send([insert(f"A-{n}", title="Shirt", price="9.90", stock=n) for n in range(count)])
    assert len(ledger.sending) == count
    return ledger


def test_the_results_task_reports_accepted_and_rejected_skus_with_amazons_code_and_message(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    fake.rejections["A-1"] = [CONFLICT]
    ledger = sent(fake, tmp_path)
    outcome = ledger.collect()
    assert outcome.count == 0
    assert outcome.counts == {
        "done": 1,
        "accepted": 2,
        "rejected": 1,
        "throttled": 0,
        "pending": 0,
    }
    assert ledger.sending == {}
    assert (ledger.answered["A-0"].ok, ledger.answered["A-2"].ok) == (True, True)
    rejected = ledger.answered["A-1"]
    assert (rejected.ok, rejected.code) == (False, "8541")
    assert (
        rejected.message == "The SKU data provided conflicts with the Amazon catalog. (item_name)"
    )


def test_several_errors_of_a_sku_are_joined_and_warnings_do_not_fail(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    fake.rejections["A-1"] = [CONFLICT, MISSING]
    fake.warnings["A-2"] = [("18448", "Attributes tagged as relevant_attributes are incomplete.")]
    ledger = sent(fake, tmp_path)
    ledger.collect()
    assert ledger.answered["A-1"].code == "8541,90220"
    assert ledger.answered["A-1"].message == (
        "The SKU data provided conflicts with the Amazon catalog. (item_name); "
        "'[batteries_required]' is required but not supplied. (item_name)"
    )
    assert ledger.answered["A-2"].ok is True


def test_issues_naming_only_their_message_id_find_their_record(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    fake.issues_name_sku = False
    fake.rejections["A-2"] = [CONFLICT]
    ledger = sent(fake, tmp_path)
    ledger.collect()
    assert [k for k, r in sorted(ledger.answered.items()) if not r.ok] == ["A-2"]


def test_feeds_still_in_progress_stay_pending_and_are_counted(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    fake.in_progress_polls = 2
    ledger = sent(fake, tmp_path, max_messages=2)
    first = ledger.collect()
    assert (first.count, first.counts["pending"], first.counts["done"]) == (2, 2, 0)
    assert len(ledger.sending) == 3 and ledger.answered == {}
    assert ledger.collect().count == 2
    last = ledger.collect()
    assert (last.count, last.counts["done"], last.counts["accepted"]) == (0, 2, 3)
    assert ledger.sending == {}


def test_a_fatal_feed_fails_every_record_of_it(fake: FakeSpApi, tmp_path: Path) -> None:
    fake.outcome = "FATAL"
    ledger = sent(fake, tmp_path)
    outcome = ledger.collect()
    assert (outcome.count, outcome.counts["rejected"]) == (0, 3)
    for result in ledger.answered.values():
        assert (result.ok, result.code) == (False, "FEED_FATAL")
        assert result.message == "Amazon aborted feed 50001 (FATAL): Feed was aborted."


def test_a_cancelled_feed_fails_every_record_of_it(fake: FakeSpApi, tmp_path: Path) -> None:
    fake.outcome = "CANCELLED"
    ledger = sent(fake, tmp_path)
    ledger.collect()
    assert {(r.ok, r.code) for r in ledger.answered.values()} == {(False, "FEED_CANCELLED")}


def test_a_throttled_poll_is_counted_as_throttled_not_as_rejected(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    ledger = sent(fake, tmp_path)
    fake.throttle["getFeed"] = 2
    outcome = ledger.collect()
    assert outcome.counts["throttled"] == 2
    assert (outcome.counts["rejected"], outcome.counts["accepted"], outcome.count) == (0, 3, 0)


def test_a_poll_throttled_past_max_wait_s_waits_for_the_next_poll(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    ledger = sent(fake, tmp_path, max_wait_s=1)
    fake.throttle["getFeedDocument"] = 5
    fake.retry_after = "2"
    outcome = ledger.collect()
    assert (outcome.count, outcome.counts["pending"], outcome.counts["rejected"]) == (1, 1, 0)
    assert outcome.counts["throttled"] >= 1
    assert len(ledger.sending) == 3
    fake.throttle["getFeedDocument"] = 0
    assert ledger.collect().counts["accepted"] == 3


def test_amazon_unreachable_while_polling_keeps_the_feed_pending(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    ledger = sent(fake, tmp_path, retries=1)
    fake.unavailable["getFeed"] = 2
    outcome = ledger.collect()
    assert (outcome.count, outcome.counts["rejected"]) == (1, 0)


def test_a_feed_amazon_does_not_know_fails_its_records_with_amazons_answer(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    ledger = sent(fake, tmp_path)
    fake.feeds.clear()
    ledger.collect()
    assert {r.code for r in ledger.answered.values()} == {"NotFound"}


def test_a_gzip_processing_report_is_read(fake: FakeSpApi, tmp_path: Path) -> None:
    fake.gzip_reports = True
    fake.rejections["A-0"] = [CONFLICT]
    ledger = sent(fake, tmp_path)
    assert ledger.collect().counts == {
        "done": 1,
        "accepted": 2,
        "rejected": 1,
        "throttled": 0,
        "pending": 0,
    }


def test_a_refused_refresh_token_fails_the_results_run_with_a_clear_error(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    ledger = sent(fake, tmp_path)
    fake.revoke_tokens()
    fake.refuse_refresh = "invalid_grant"
    with pytest.raises(ConnectorError, match="Amazon refused the refresh token"):
        ledger.collect()
    assert len(ledger.sending) == 3


def test_with_nothing_submitted_the_results_task_asks_amazon_nothing(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    channel = make_channel(fake.url, tmp_path)
    ctx = TaskContext(records=lambda: iter(()), state={})
    assert channel.run_task(RESULTS_TASK, ctx).count == 0
    assert sum(fake.calls.values()) == 0
