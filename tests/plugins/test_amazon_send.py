"""Sending: feeds submitted without waiting, Amazon's limits and failures, Login with Amazon."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConnectorError
from plugins.amazon.errors import AmazonThrottled
from tests.plugins.fake_spapi import (  # noqa: F401
    CLIENT_SECRET,
    MARKETPLACE,
    REFRESH_TOKEN,
    FakeSpApi,
    Ledger,
    Sleeps,
    fake_spapi,
    fresh_amazon_caches,
    insert,
    make_channel,
)


def shirts(count: int = 2) -> list:
    return [insert(f"A-{n}", title=f"Shirt {n}", price="9.90", stock=n) for n in range(count)]


def test_send_returns_the_feed_id_as_ticket_without_waiting_for_amazon(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    fake.in_progress_polls = 1000
    results = list(make_channel(fake.url, tmp_path).send(shirts(3)))
    assert [(r.ok, r.ticket) for r in results] == [(None, "50001")] * 3
    assert fake.calls["getFeed"] == 0
    assert fake.feeds["50001"]["marketplaceIds"] == [MARKETPLACE]
    assert fake.feeds["50001"]["feedType"] == "JSON_LISTINGS_FEED"


def test_a_429_with_retry_after_is_waited_for_and_not_a_failure(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    fake.throttle["createFeedDocument"] = 2
    fake.retry_after = "3"
    sleeps = Sleeps()
    channel = make_channel(fake.url, tmp_path, sleep=sleeps)
    results = list(channel.send(shirts()))
    assert all(r.ok is None and r.ticket for r in results)
    assert sleeps == [3.0, 3.0]
    assert channel.api.throttled == 2


def test_a_429_without_retry_after_waits_as_amazons_rate_header_says(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    fake.throttle["createFeed"] = 1
    fake.retry_after = ""
    sleeps = Sleeps()
    list(make_channel(fake.url, tmp_path, sleep=sleeps).send(shirts()))
    assert sleeps == [0.5]  # x-amzn-RateLimit-Limit: 2.0


def test_throttling_past_max_wait_s_keeps_the_changes_pending_with_a_clear_error(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    fake.throttle["createFeedDocument"] = 100
    fake.retry_after = "20"
    channel = make_channel(fake.url, tmp_path, max_wait_s=50)
    with pytest.raises(AmazonThrottled, match="createFeedDocument.*max_wait_s") as stopped:
        list(channel.send(shirts()))
    assert stopped.value.transient
    assert fake.calls["createFeedDocument"] == 3
    assert fake.feeds == {}


def test_a_server_error_is_retried_with_backoff(fake: FakeSpApi, tmp_path: Path) -> None:
    fake.unavailable["createFeed"] = 2
    sleeps = Sleeps()
    results = list(make_channel(fake.url, tmp_path, sleep=sleeps).send(shirts()))
    assert all(r.ticket == "50001" for r in results)
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1 and 1 <= sleeps[1] <= 2


def test_amazon_unreachable_before_any_feed_ends_the_send_and_keeps_the_changes_pending(
    tmp_path: Path,
) -> None:
    channel = make_channel("http://127.0.0.1:9", tmp_path, retries=1)
    with pytest.raises(ConnectorError, match="Login with Amazon .* gave no access token"):
        list(channel.send(shirts()))


def test_a_failure_after_a_submitted_feed_keeps_that_feeds_tickets(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    channel = make_channel(fake.url, tmp_path, max_messages=2, retries=1)
    changes = shirts(5)
    results = []
    for result in channel.send(changes):
        results.append(result)
        if len(results) == 2:
            fake.unavailable["createFeedDocument"] = 100
    assert [(r.key, r.ticket) for r in results[:2]] == [("A-0", "50001"), ("A-1", "50001")]
    assert [(r.key, r.ok, r.code) for r in results[2:]] == [
        (f"A-{n}", False, "ServiceUnavailable") for n in (2, 3, 4)
    ]


def test_the_access_token_is_cached_and_refreshed_when_expired(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    now = [1000.0]
    fake.token_lifetime_s = 3600
    first = make_channel(fake.url, tmp_path, clock=lambda: now[0])
    list(first.send(shirts()))
    list(first.send(shirts()))
    second = make_channel(fake.url, tmp_path, clock=lambda: now[0])  # same process
    list(second.send(shirts()))
    assert fake.calls["lwa"] == 1
    now[0] += 3600 - 61
    list(second.send(shirts()))
    assert fake.calls["lwa"] == 1
    now[0] += 2  # within a minute of expiry
    list(second.send(shirts()))
    assert fake.calls["lwa"] == 2
    assert len(fake.feeds) == 5


def test_an_access_token_the_api_refuses_is_refreshed_once(fake: FakeSpApi, tmp_path: Path) -> None:
    channel = make_channel(fake.url, tmp_path)
    list(channel.send(shirts()))
    fake.revoke_tokens()
    results = list(channel.send(shirts()))
    assert all(r.ticket for r in results)
    assert fake.calls["lwa"] == 2


def test_a_refused_refresh_token_is_a_clear_error_without_secrets(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    fake.refuse_refresh = "invalid_grant"
    with pytest.raises(ConnectorError) as refused:
        list(make_channel(fake.url, tmp_path).send(shirts()))
    message = refused.value.message
    assert message.startswith("Amazon refused the refresh token")
    assert REFRESH_TOKEN not in message and CLIENT_SECRET not in message
    assert fake.calls["createFeedDocument"] == 0


def test_refused_app_credentials_say_which_settings_to_check(
    fake: FakeSpApi, tmp_path: Path
) -> None:
    fake.refuse_refresh = "invalid_client"
    with pytest.raises(ConnectorError, match="client_id and client_secret"):
        list(make_channel(fake.url, tmp_path).send(shirts()))


def test_no_error_message_shows_a_secret_or_a_signed_url(fake: FakeSpApi, tmp_path: Path) -> None:
    fake.unavailable["upload"] = 100
    with pytest.raises(ConnectorError) as failed:
        list(make_channel(fake.url, tmp_path, retries=1).send(shirts()))
    message = failed.value.message
    assert "upload the feed document" in message
    assert "signed-secret" not in message and "X-Amz-Signature" not in message
