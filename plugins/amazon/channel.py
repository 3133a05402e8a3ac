"""`amazon`: an API channel sending listings to Amazon through the Selling Partner API as
JSON_LISTINGS_FEED documents (`sender.py`), whose per-record results the `amazon.results`
task collects once Amazon has processed them (`results.py`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import requests

from plugins.amazon.auth import AccessTokens, Credentials
from plugins.amazon.client import FeedsApi
from plugins.amazon.memory import ListingMemory
from plugins.amazon.ratelimit import RateLimiter, buckets_for
from plugins.amazon.results import ResultsCollector, empty_counts
from plugins.amazon.sender import FeedSender
from plugins.amazon.settings import MAX_MESSAGES, AmazonSettings
from plugins.base import (
    Change,
    ChangeResult,
    Connector,
    ConnectorContext,
    Task,
    TaskContext,
    TaskResult,
)

RESULTS_TASK = "amazon.results"


class AmazonChannel(Connector):
    """Sends changes as listings feeds; `sleep` and `clock` (seconds, monotonic) are how it
    waits and tells the time (tests pass their own), `session` the HTTP session to use."""

    name = "amazon"
    settings_schema = AmazonSettings
    roles = frozenset({"channel"})
    channel_kind = "api"
    tasks = (
        Task(
            RESULTS_TASK,
            description="ask Amazon how the submitted feeds went and acknowledge each record",
        ),
    )
    results_task = RESULTS_TASK
    results_poll_s = 30.0
    send_batch = MAX_MESSAGES

    def __init__(
        self,
        settings: dict[str, Any],
        context: ConnectorContext,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(settings, context, sleep=sleep)
        self.clock = clock
        self.session = session or requests.Session()

    @classmethod
    def example_settings(cls, workdir: Path) -> dict[str, Any]:
        """A dry run: documents are built, checked and kept under the data directory."""
        return {
            "seller_id": "A2EXAMPLESELLER",
            "marketplace_ids": ["A1PA6795UKMFR9"],
            "endpoint": "https://sellingpartnerapi-eu.amazon.com",
            "client_id": "amzn1.application-oa2-client.example",
            "client_secret": "example-secret",
            "refresh_token": "Atzr|example",
            "dry_run": True,
        }

    @cached_property
    def options(self) -> dict[str, Any]:
        return self.loaded_settings()

    @cached_property
    def memory(self) -> ListingMemory:
        return ListingMemory(self.context.state)

    @cached_property
    def api(self) -> FeedsApi:
        options = self.options
        credentials = Credentials(
            endpoint=options["lwa_endpoint"],
            client_id=options["client_id"],
            client_secret=options["client_secret"],
            refresh_token=options["refresh_token"],
        )
        common = {
            "session": self.session,
            "timeout_s": self.context.http_timeout_s,
            "retries": options["retries"],
            "sleep": self.sleep,
        }
        limiter = RateLimiter(
            buckets_for(self.context.redis_url),
            options["rate_limits"],
            seller_id=options["seller_id"],
            client_id=options["client_id"],
            max_wait_s=options["max_wait_s"],
            sleep=self.sleep,
        )
        tokens = AccessTokens(credentials, clock=self.clock, **common)
        return FeedsApi(options["endpoint"], tokens=tokens, limiter=limiter, **common)

    def send(self, changes: Iterable[Change]) -> Iterator[ChangeResult]:
        options = self.options
        if options["dry_run"]:
            sender = FeedSender(options, api=None, memory=self.memory, dry_run_dir=self._dry_dir())
        else:
            sender = FeedSender(options, api=self.api, memory=self.memory)
        return sender.send(changes)

    def run_task(self, name: str, ctx: TaskContext) -> TaskResult:
        if name != RESULTS_TASK:
            return super().run_task(name, ctx)
        submissions = ctx.submissions()
        if not submissions:
            return TaskResult(count=0, counts=empty_counts())
        return ResultsCollector(self.api, self.memory).collect(submissions, ctx.report)

    def _dry_dir(self) -> Path:
        return (
            self.context.data_dir
            / "amazon-dry-run"
            / self.context.project_id
            / self.context.connection_id
        )
