"""Anchored pages and cursors (`plugins.shop.incremental`) against an in-memory listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from plugins.shop.incremental import Cursor, Fetched, anchored_pages, parse_stamp

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


class Listing:
    """Items sorted as the service sorts them, filtered by `after`, `per_page` a page."""

    def __init__(self, stamps: list[datetime], per_page: int = 2) -> None:
        self.items: list[dict[str, Any]] = [{"id": n, "at": at} for n, at in enumerate(stamps)]
        self.per_page = per_page
        self.asked: list[tuple[datetime | None, int]] = []

    def fetch(self, after: datetime | None, page: int) -> Fetched:
        self.asked.append((after, page))
        found = [i for i in self.items if after is None or i["at"] > after]
        start = (page - 1) * self.per_page
        return found[start : start + self.per_page], start + self.per_page < len(found)


def stamp(item: dict[str, Any]) -> datetime:
    return item["at"]


def test_more_items_in_one_second_than_a_page_holds_are_all_read_by_page_number() -> None:
    listing = Listing([T0] * 5 + [T0 + timedelta(seconds=1)])
    read = {i["id"] for page in anchored_pages(listing.fetch, stamp, None) for i in page.items}
    assert read == set(range(6))


def test_a_listing_seen_out_of_order_gives_no_checkpoint_from_there_on() -> None:
    minutes = [1, 0, 2, 3, 4, 5]  # sorted by another clock than the filter's
    listing = Listing([T0 + timedelta(minutes=m) for m in minutes])
    pages = list(anchored_pages(listing.fetch, stamp, None))
    assert all(p.checkpoint is None for p in pages)
    assert {i["id"] for p in pages for i in p.items} == set(range(6))


def test_the_cursor_moves_only_forward_and_a_read_starts_the_overlap_before_it() -> None:
    state: dict[str, Any] = {}
    cursor = Cursor(state, "c", overlap_s=300, start="2024-05-01")
    assert cursor.read_from() == datetime(2024, 5, 1, tzinfo=UTC)
    cursor.advance(T0)
    cursor.advance(T0 - timedelta(hours=1))
    assert state == {"c": "2024-05-01T10:00:00Z"}
    assert cursor.read_from() == T0 - timedelta(seconds=300)
    assert parse_stamp("2024-05-01T12:00:00+02:00") == T0
