"""The `amazon.results` task: ask Amazon how each submitted feed went and report every record.

Per ticket (a feed id): `IN_QUEUE`/`IN_PROGRESS` stays pending; `DONE` reads the processing
report (`report.py`); `FATAL` and `CANCELLED` fail every record of the feed (`FEED_FATAL`,
`FEED_CANCELLED`). A feed Amazon cannot be asked about now (no answer, or throttled past
`max_wait_s`) stays pending too: the framework polls again while the count is above zero.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from plugins.amazon.client import FeedsApi
from plugins.amazon.errors import (
    AmazonAccessDenied,
    AmazonAuthRefused,
    AmazonError,
    AmazonThrottled,
)
from plugins.amazon.memory import ListingMemory
from plugins.amazon.report import failed, results_of
from plugins.base import ChangeResult, TaskResult

ENDED = {"FATAL": "FEED_FATAL", "CANCELLED": "FEED_CANCELLED"}


def empty_counts() -> dict[str, int]:
    return {"done": 0, "accepted": 0, "rejected": 0, "throttled": 0, "pending": 0}


class ResultsCollector:
    def __init__(self, api: FeedsApi, memory: ListingMemory) -> None:
        self.api = api
        self.memory = memory

    def collect(
        self,
        submissions: Mapping[str, Sequence[str]],
        report: Callable[[Iterable[ChangeResult]], None],
    ) -> TaskResult:
        """Counts: `done` feeds, `accepted` and `rejected` records, `throttled` (429 answers,
        and feeds left for the next poll because of a rate limit), `pending` feeds."""
        counts = empty_counts()
        for ticket, keys in submissions.items():
            try:
                results = self._results(ticket, keys) if ticket else self._untracked(keys)
            except (AmazonAuthRefused, AmazonAccessDenied):
                raise
            except AmazonError as error:
                if error.transient:
                    counts["pending"] += 1
                    counts["throttled"] += isinstance(error, AmazonThrottled)
                    continue
                results = [ChangeResult(k, False, error.code, error.message) for k in keys]
            if results is None:
                counts["pending"] += 1
                continue
            report(results)
            for result in results:
                self.memory.settle(ticket, result.key, bool(result.ok))
                counts["accepted" if result.ok else "rejected"] += 1
            self.memory.forget_feed(ticket)
            counts["done"] += 1
        counts["throttled"] += self.api.throttled
        return TaskResult(count=counts["pending"], counts=counts)

    def _results(self, feed_id: str, keys: Sequence[str]) -> list[ChangeResult] | None:
        """The records' results, or None while Amazon is still processing the feed."""
        feed = self.api.get_feed(feed_id)
        status = str(feed.get("processingStatus") or "")
        if status == "DONE":
            report = self._report(feed)
            if report is None:
                return [
                    ChangeResult(
                        k,
                        False,
                        "SYNCFARM_NO_REPORT",
                        f"Amazon processed feed {feed_id} but gave no processing report",
                    )
                    for k in keys
                ]
            return results_of(report, keys, self.memory.skus_of(feed_id))
        if status in ENDED:
            return self._ended(feed_id, feed, status, keys)
        return None  # IN_QUEUE, IN_PROGRESS (or a status Amazon added since): ask again later

    def _ended(
        self, feed_id: str, feed: dict[str, Any], status: str, keys: Sequence[str]
    ) -> list[ChangeResult]:
        issues: list[dict[str, Any]] = []
        if status == "FATAL":
            report = self._report(feed)
            issues = [i for i in (report or {}).get("issues") or () if isinstance(i, dict)]
            what = f"Amazon aborted feed {feed_id} (FATAL)"
        else:
            what = f"Amazon cancelled feed {feed_id} before processing it"
        code = ENDED[status]
        if not issues:
            return [ChangeResult(k, False, code, f"{what}; it is sent again") for k in keys]
        return [
            ChangeResult(k, False, code, failed(k, issues, prefix=f"{what}: ").message)
            for k in keys
        ]

    def _report(self, feed: dict[str, Any]) -> dict[str, Any] | None:
        document_id = feed.get("resultFeedDocumentId")
        if not document_id:
            return None
        document = self.api.get_feed_document(str(document_id))
        url = document.get("url")
        if not url:
            return None
        content = self.api.download(str(url), document.get("compressionAlgorithm"))
        try:
            report = json.loads(content)
        except ValueError:
            raise AmazonError(
                f"the processing report of feed {feed.get('feedId')} is not JSON",
                code="SYNCFARM_BAD_REPORT",
            ) from None
        return report if isinstance(report, dict) else None

    @staticmethod
    def _untracked(keys: Sequence[str]) -> list[ChangeResult]:
        return [
            ChangeResult(k, False, "SYNCFARM_NO_TICKET", "sent without a feed id; sent again")
            for k in keys
        ]
