"""Order sets: named subsets of a project's orders (documents of kind `orders`), compiled to
one MongoDB filter on `store.documents`; the sets given together are intersected.

Dates are calendar periods in the project's timezone, on the order's `ordered_at`
(`core.order_time`): `year:2026`, `month:2026-11`, `this-year`, `this-month`, `last-week`
(Monday to Sunday before the current week), `yesterday`, `today`.

Connection sets follow the order flows:
- `on:X`: orders X has: stored by X's tasks (a shop's `orders.download`), or, when X takes
  orders (a connector with an `orders.deliver` task), delivered to it;
- `pending-creates:X`: X takes orders, and this one was not delivered yet (when X's settings
  list `deliver_statuses`, only orders in one of them: the ones the next delivery sends);
- `pending-updates:X`: X takes shipment updates (a `shipments.upload` task): orders of X with a
  shipment attached that was not uploaded yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.clock import to_ms, utcnow
from core.errors import Invalid
from core.recordsets.grammar import SetSpec, Vocabulary, parse_sets
from core.store import Store
from plugins.registry import UnknownConnector, get_connector

ORDERS_KIND = "orders"
DELIVER_TASK = "orders.deliver"
SHIPMENTS_UPLOAD_TASK = "shipments.upload"
DELIVERED_MARK = "delivered"
SHIPMENT_MARK = "shipment"
SHIPMENT_UPLOADED_MARK = "shipment_uploaded"

ORDER_SETS = Vocabulary(
    kind="order",
    names={
        "on": (True, "connection|orders X stored or took"),
        "pending-updates": (True, "connection|a shipment not yet uploaded to X"),
        "pending-creates": (True, "connection|not yet delivered to X"),
        "year": (True, "YYYY|ordered in that year"),
        "month": (True, "YYYY-MM|ordered in that month"),
        "this-year": (False, "ordered this year"),
        "this-month": (False, "ordered this month"),
        "last-week": (False, "ordered Monday to Sunday of last week"),
        "yesterday": (False, "ordered yesterday"),
        "today": (False, "ordered today"),
    },
    aliases={},
)


def order_filter(
    store: Store,
    project: dict[str, Any],
    sets: Iterable[str],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The MongoDB filter on `store.documents` selecting the project's orders in every set;
    periods are read in the project's timezone at `now` (default: the current time)."""
    zone = ZoneInfo(project.get("timezone") or "UTC")
    today = (now or utcnow()).astimezone(zone).date()
    query: dict[str, Any] = {"project_id": project["_id"], "kind": ORDERS_KIND}
    conditions: list[dict[str, Any]] = []
    low: int | None = None
    high: int | None = None
    for spec in parse_sets(sets, ORDER_SETS):
        period = _period(spec, today)
        if period is None:
            conditions.append(_connection_condition(store, project, spec))
            continue
        start, end = (to_ms(_midnight(day, zone)) for day in period)
        low = start if low is None else max(low, start)
        high = end if high is None else min(high, end)
    if low is not None and high is not None:
        query["ordered_at"] = {"$gte": low, "$lt": max(low, high)}
    if len(conditions) == 1:
        query.update(conditions[0])
    elif conditions:
        query["$and"] = conditions
    return query


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _period(spec: SetSpec, today: date) -> tuple[date, date] | None:
    """The [first day, day after the last) of a date set; None for other sets."""
    name = spec.name
    if name == "today":
        return today, today + timedelta(days=1)
    if name == "yesterday":
        return today - timedelta(days=1), today
    if name == "last-week":
        monday = today - timedelta(days=today.weekday())
        return monday - timedelta(days=7), monday
    if name == "this-month":
        return _month(today.year, today.month)
    if name == "this-year":
        return date(today.year, 1, 1), date(today.year + 1, 1, 1)
    if name == "year":
        year = _number(spec, spec.argument, 4)
        return date(year, 1, 1), date(year + 1, 1, 1)
    if name == "month":
        year_text, _, month_text = spec.argument.partition("-")
        year, month = _number(spec, year_text, 4), _number(spec, month_text, 2)
        if not 1 <= month <= 12:
            raise ORDER_SETS.fail(spec.text, "needs a month 01 to 12, like month:2026-11")
        return _month(year, month)
    return None


def _month(year: int, month: int) -> tuple[date, date]:
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return date(year, month, 1), following


def _number(spec: SetSpec, text: str, digits: int) -> int:
    if len(text) != digits or not text.isascii() or not text.isdigit():
        example = "year:2026" if spec.name == "year" else "month:2026-11"
        raise ORDER_SETS.fail(spec.text, f"needs a date like {example}")
    value = int(text)
    if digits == 4 and not 1970 <= value <= 9998:
        raise ORDER_SETS.fail(spec.text, "needs a year from 1970 to 9998")
    return value


def _tasks_of(connection: dict[str, Any]) -> set[str]:
    try:
        return {task.name for task in get_connector(connection["connector"]).tasks}
    except UnknownConnector:
        return set()


def _connection_condition(store: Store, project: dict[str, Any], spec: SetSpec) -> dict[str, Any]:
    connection: dict[str, Any] | None = store.connections.find_one({"_id": spec.argument})
    if connection is None or connection["project_id"] != project["_id"]:
        raise Invalid(
            f"order set {spec.text!r}: {spec.argument!r} is not a connection of project "
            f"{project['_id']!r}",
            errors={"set": [f"{spec.text}: unknown connection"]},
        )
    tasks = _tasks_of(connection)
    takes_orders = DELIVER_TASK in tasks
    delivered = f"marks.{DELIVERED_MARK}"
    if spec.name == "on":
        mine: dict[str, Any] = {"connection_id": connection["_id"]}
        return {"$or": [mine, {delivered: {"$exists": True}}]} if takes_orders else mine
    if spec.name == "pending-creates":
        if not takes_orders:
            raise Invalid(
                f"order set {spec.text!r}: connection {connection['name']!r} does not take "
                f"orders (its connector has no {DELIVER_TASK} task)",
                errors={"set": [f"{spec.text}: takes no orders"]},
            )
        condition: dict[str, Any] = {delivered: {"$exists": False}}
        statuses = (connection.get("settings") or {}).get("deliver_statuses")
        if isinstance(statuses, list) and statuses:
            condition["data.status"] = {"$in": [str(s) for s in statuses]}
        return condition
    if SHIPMENTS_UPLOAD_TASK not in tasks:
        raise Invalid(
            f"order set {spec.text!r}: connection {connection['name']!r} takes no order "
            f"updates (its connector has no {SHIPMENTS_UPLOAD_TASK} task)",
            errors={"set": [f"{spec.text}: takes no order updates"]},
        )
    return {
        "connection_id": connection["_id"],
        f"marks.{SHIPMENT_MARK}": {"$exists": True},
        f"marks.{SHIPMENT_UPLOADED_MARK}": {"$exists": False},
    }
