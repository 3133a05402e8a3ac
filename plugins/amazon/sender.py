"""Sending changes: messages gathered into documents of at most `max_messages`, each checked
against Amazon's schema, uploaded and submitted as a feed whose id is every change's ticket.

Nothing waits for Amazon to process a feed: each change comes back `ok=None` with the feed id,
and the results task asks later. A record that cannot be a listing fails alone
(`SYNCFARM_INVALID`, naming the field); a record Amazon already holds exactly is acknowledged
at once.

When Amazon cannot be reached or throttles past `max_wait_s` before any feed of this send was
submitted, the error ends the send and its changes stay pending for the next run. Once a feed
was submitted its tickets must not be lost, so the changes not sent yet fail with the error's
code instead (and are retried after the framework's backoff).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from plugins.amazon.attributes import Unexpressible
from plugins.amazon.client import FeedsApi
from plugins.amazon.documents import check, document, encode, header, refused_messages
from plugins.amazon.errors import AmazonError
from plugins.amazon.memory import ListingMemory
from plugins.amazon.messages import MessagePlanner, Planned
from plugins.base import Change, ChangeResult

INVALID = "SYNCFARM_INVALID"
DRY_RUN = "SYNCFARM_DRY_RUN"


class FeedSender:
    """`api` None with `dry_run_dir` set: documents are written there instead of sent."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        api: FeedsApi | None,
        memory: ListingMemory,
        dry_run_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.api = api
        self.memory = memory
        self.planner = MessagePlanner(settings, memory)
        self.header = header(settings["seller_id"], settings["issue_locale"])
        self.dry_run_dir = dry_run_dir
        self.documents = 0
        #: feeds this send submitted; once there is one, an error must not lose its tickets
        self.feed_ids: list[str] = []

    def send(self, changes: Iterable[Change]) -> Iterator[ChangeResult]:
        batch: list[Planned] = []
        remaining = iter(changes)
        try:
            for change in remaining:
                try:
                    planned = self.planner.plan(change)
                except Unexpressible as problem:
                    yield ChangeResult(change.key, False, INVALID, str(problem))
                    continue
                if planned is None:
                    yield ChangeResult(change.key, True)
                    continue
                batch.append(planned)
                if len(batch) >= self.settings["max_messages"]:
                    yield from self._flush(batch)
            yield from self._flush(batch)
        except AmazonError as error:
            if not self.feed_ids:
                raise
            for key in [p.key for p in batch] + [c.key for c in remaining]:
                yield ChangeResult(key, False, error.code, error.message)

    def _flush(self, batch: list[Planned]) -> Iterator[ChangeResult]:
        """Send `batch` as one document; it is emptied of every change answered, so that on
        an error it holds exactly the changes still without an answer."""
        if not batch:
            return
        doc = document(self.header, [p.message for p in batch])
        refused = refused_messages(doc)
        if refused:
            for index in sorted(refused):
                yield ChangeResult(batch[index].key, False, INVALID, refused[index])
            batch[:] = [p for n, p in enumerate(batch) if n not in refused]
            if not batch:
                return
            doc = document(self.header, [p.message for p in batch])
        check(doc)
        self.documents += 1
        if self.api is None:
            yield from self._keep(doc, batch)
            return
        document_id, url = self.api.create_feed_document()
        self.api.upload(url, encode(doc))
        feed_id = self.api.create_feed(document_id, list(self.settings["marketplace_ids"]))
        self.feed_ids.append(feed_id)
        self.memory.submitted(feed_id, [(p.key, p.sent) for p in batch])
        answered, batch[:] = list(batch), []
        for planned in answered:
            yield ChangeResult(planned.key, None, ticket=feed_id)

    def _keep(self, doc: dict[str, Any], batch: list[Planned]) -> Iterator[ChangeResult]:
        """A dry run: the document is written down, nothing is sent."""
        assert self.dry_run_dir is not None
        self.dry_run_dir.mkdir(parents=True, exist_ok=True)
        path = self.dry_run_dir / f"feed-{self.documents}.json"
        path.write_bytes(encode(doc))
        answered, batch[:] = list(batch), []
        for planned in answered:
            yield ChangeResult(
                planned.key,
                False,
                DRY_RUN,
                f"dry run: not sent to Amazon; the message is in {path.name} "
                "(turn dry_run off to send)",
            )
