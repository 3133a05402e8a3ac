"""Incremental reads that lose nothing: a cursor in the connection's state, and pages anchored
on the items' own modification stamps.

The cursor is the newest stamp up to which every item has been read *and stored*: callers
advance it only after committing a page, so a run killed at any point restarts from committed
data, and repeats at most a page (stores are idempotent upserts). Each run reads from
`cursor - overlap_s`, re-reading a window in which the service may still publish items stamped
a moment earlier (a transaction committed late).

Plain `page=1, 2, 3…` paging over a list sorted by modification loses items: an item modified
during the read jumps to the end, every later item shifts one place left, and the first item
of the next page is skipped. So after each page the read starts again at page 1 from just
before that page's last stamp (a keyset read with the service's own `modified_after`/`since`
filter); it moves to the next page number only when a page does not move the anchor (more
items than a page share one second) or its stamps are not in order. Items of the anchor's
second are read twice; storing them again changes nothing.

This needs the service to sort by the clock it filters on. WooCommerce does (HPOS order
tables sort and filter on `date_updated_gmt`), except with the legacy post storage, which sorts
by local time: in the hour a daylight-saving clock goes back, an order stamped earlier in GMT
may come after a page's last order and be skipped by the anchor. A page seen out of order
stops the checkpoints of that read, so the cursor stays where it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import ConnectorError

ANCHOR_STEP = timedelta(seconds=1)

#: one page of a listing: its items and whether there are more pages after it
Fetched = tuple[list[dict[str, Any]], bool]


def parse_stamp(value: Any) -> datetime:
    """An ISO 8601 stamp as an aware UTC datetime; a stamp without a zone is UTC (the GMT
    fields of WooCommerce, e.g. `date_modified_gmt`)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ConnectorError(f"{value!r} is not an ISO 8601 date and time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def gmt(moment: datetime) -> str:
    """`moment` as WooCommerce spells GMT times: `2024-05-01T10:00:00`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class Cursor:
    """A position kept under `key` in a connection's persistent state."""

    def __init__(
        self, state: MutableMapping[str, Any], key: str, *, overlap_s: float, start: Any = None
    ) -> None:
        self.state = state
        self.key = key
        self.overlap = timedelta(seconds=overlap_s)
        self.start = parse_stamp(start) if start else None

    @property
    def position(self) -> datetime | None:
        stored = self.state.get(self.key)
        return parse_stamp(stored) if stored else None

    def read_from(self) -> datetime | None:
        """Where a read starts: the overlap window before the cursor; without a cursor, the
        configured start (None: from the beginning)."""
        position = self.position
        return position - self.overlap if position is not None else self.start

    def advance(self, stamp: datetime) -> None:
        """Move to `stamp` if it is newer; call only once everything up to it is stored."""
        position = self.position
        if position is None or stamp > position:
            self.state[self.key] = stamp.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    #: a stamp up to which this and earlier pages hold every item: safe to advance a cursor
    #: to once they are stored (None once the service's order has been seen to be off)
    checkpoint: datetime | None


def anchored_pages(
    fetch: Callable[[datetime | None, int], Fetched],
    stamp: Callable[[dict[str, Any]], datetime],
    start: datetime | None,
) -> Iterator[Page]:
    """Every item stamped after `start`, page by page, in the service's ascending order of
    stamps; `fetch(after, page)` asks for page `page` of the items stamped after `after`."""
    after, number = start, 1
    ordered = True
    last: datetime | None = None
    while True:
        items, more = fetch(after, number)
        if not items:
            return
        stamps = [stamp(item) for item in items]
        in_order = all(a <= b for a, b in zip(stamps, stamps[1:], strict=False))
        in_order = in_order and (last is None or stamps[0] >= last - ANCHOR_STEP)
        ordered = ordered and in_order
        last = stamps[-1]
        yield Page(items, stamps[-1] if ordered else None)
        if not more:
            return
        anchor = stamps[-1] - ANCHOR_STEP
        if in_order and (after is None or anchor > after):
            after, number = anchor, 1
        else:
            number += 1


def numbered_pages(fetch: Callable[[int], Fetched]) -> Iterator[list[dict[str, Any]]]:
    """Pages 1, 2, 3… of a listing whose order nothing changes during the read."""
    number = 1
    while True:
        items, more = fetch(number)
        if items:
            yield items
        if not items or not more:
            return
        number += 1
