"""When an order was placed: the time the order sets (`today`, `month:2026-11`…) go by.

Stored on each order document as `ordered_at` (epoch ms, UTC). It is the platform's own
creation time when the order carries one — `date_created_gmt` (UTC, as WooCommerce-style shops
give it), else `created_at`, `date_created` or `ordered_at` as ISO 8601 (a time without offset
is read as UTC) or epoch milliseconds — and otherwise the time syncfarm first stored the order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from core.clock import to_ms

TIME_FIELDS = ("date_created_gmt", "created_at", "date_created", "ordered_at")
#: 2000-01-01 … 2200-01-01: a number outside is not a time in milliseconds
PLAUSIBLE_MS = (946_684_800_000, 7_258_118_400_000)


def order_time(data: Mapping[str, Any], stored_at_ms: int) -> int:
    """The order's creation time (epoch ms), or `stored_at_ms` when it gives none."""
    for name in TIME_FIELDS:
        found = _parse(data.get(name))
        if found is not None:
            return found
    return stored_at_ms


def _parse(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if PLAUSIBLE_MS[0] <= value < PLAUSIBLE_MS[1] else None
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_ms(moment)
