"""Paging a MongoDB query for `@blp.paginate()` (page, page_size, X-Pagination)."""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection


def page_of(
    collection: Collection[Any],
    query: dict[str, Any],
    pagination: Any,
    sort: list[tuple[str, int]],
) -> list[dict[str, Any]]:
    pagination.item_count = collection.count_documents(query)
    cursor = (
        collection.find(query).sort(sort).skip(pagination.first_item).limit(pagination.page_size)
    )
    return list(cursor)
