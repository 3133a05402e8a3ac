"""Record sets: named subsets of a project's records, compiled to a `RecordSelection`.

Each set is one of three kinds, and the sets given together are intersected:
- a condition on the record's own fields (`with:F`, `brand:V`…), sent to MongoDB as it is;
- a stream of keys read from a channel's change documents or the project's issues (`on:X`,
  `pending-updates:X`, `with-issues`…), in key order by a range scan of their `_id`s
  (`<connection>:<key>`), intersected with the others (or subtracted: `unpublished:X`,
  `without-issues`) by merging;
- a check that needs the record's values as numbers or the channel's view of the record
  (`low-stock`, `bad-price`, `category:X`…), run on the candidates in batches (only the
  fields checked are read).
How a page of it is read, and what its total means, is in `core.recordsets.selection`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from core.errors import Invalid
from core.issues import WHOLE_SOURCE
from core.pipeline.changes import ChangeState
from core.pipeline.channel_view import channel_rules
from core.record_set_settings import setting, threshold
from core.recordsets.grammar import SetSpec, Vocabulary, field_name, parse_sets
from core.recordsets.selection import Check, RecordSelection
from core.recordsets.streams import BATCH_SIZE, KeyStream, keys_of, union
from core.rules.values import to_number
from core.store import Store

#: change states that still have to reach the channel
PENDING_STATES = (ChangeState.PENDING.value, ChangeState.UNAPPROVED.value, ChangeState.FAILED.value)
#: change states held until a person acts
HELD_STATES = (ChangeState.UNAPPROVED.value, ChangeState.STOPPED.value)
DEFAULT_CATEGORY_FIELD = "category"

RECORD_SETS = Vocabulary(
    kind="record",
    names={
        "on": (True, "connection|records channel X's rules let through"),
        "with": (True, "field|field present and not empty"),
        "without": (True, "field|field missing or empty"),
        "brand": (True, "value|brand equals the value"),
        "size": (True, "value|size equals the value"),
        "colour": (True, "value|colour (or color) equals the value"),
        "active": (True, "connection|on X, X not paused, change not held"),
        "paused": (True, "connection|on X and X paused, or change held for a person"),
        "published": (True, "connection|X acknowledged the record"),
        "unpublished": (True, "connection|X has not acknowledged the record"),
        "with-issues": (False, "an open issue on any channel"),
        "without-issues": (False, "no open issue"),
        "low-stock": (False, "0 < stock <= low_stock_threshold"),
        "out-of-stock": (False, "stock <= 0"),
        "in-stock": (False, "stock > 0"),
        "low-price": (False, "0 < price < low_price_threshold"),
        "bad-price": (False, "price missing, not a number, or <= 0"),
        "category": (True, "connection|X's view has a category"),
        "without-category": (True, "connection|on X without a category"),
        "pending-updates": (True, "connection|an update to X not yet sent"),
        "pending-creates": (True, "connection|an insert to X not yet sent"),
    },
    aliases={"color": "colour"},
)


def select_records(
    store: Store,
    project: dict[str, Any],
    sets: Iterable[str],
    *,
    batch_size: int = BATCH_SIZE,
) -> RecordSelection:
    """The project's records in every one of `sets`, to be read a page at a time."""
    selection = RecordSelection(store, project["_id"], batch_size=batch_size)
    for spec in parse_sets(sets, RECORD_SETS):
        _add(store, project, spec, selection)
    return selection


def _values(text: str) -> list[Any]:
    """A set's value as stored by text feeds ("42") and by JSON feeds (42)."""
    values: list[Any] = [text]
    number = to_number(text)
    if number is not None and text.strip() == text:
        values.append(int(number) if number == number.to_integral_value() else float(number))
    return values


def _add(store: Store, project: dict[str, Any], spec: SetSpec, plan: RecordSelection) -> None:
    name, arg = spec.name, spec.argument
    if name == "with":
        plan.conditions.append({f"data.{field_name(spec, RECORD_SETS)}": {"$nin": [None, ""]}})
    elif name == "without":
        plan.conditions.append({f"data.{field_name(spec, RECORD_SETS)}": {"$in": [None, ""]}})
    elif name in ("brand", "size"):
        plan.conditions.append({f"data.{name}": {"$in": _values(arg)}})
    elif name == "colour":
        values = _values(arg)
        plan.conditions.append(
            {"$or": [{"data.colour": {"$in": values}}, {"data.color": {"$in": values}}]}
        )
    elif name in ("with-issues", "without-issues"):
        stream = _issue_keys(store, project, plan.batch_size)
        (plan.include if name == "with-issues" else plan.exclude).append(stream)
    elif name in ("low-stock", "out-of-stock", "in-stock", "low-price", "bad-price"):
        _add_numeric(project, name, plan)
    else:
        _add_channel(store, project, spec, plan)


def _add_numeric(project: dict[str, Any], name: str, plan: RecordSelection) -> None:
    if name.endswith("-price"):
        price_field = str(setting(project, "price_field"))
        if name == "bad-price":

            def bad(data: Mapping[str, Any], key: str) -> bool:
                price = to_number(data.get(price_field))
                return price is None or price <= 0

            plan.check(bad, {price_field})
        else:
            plan.check(
                _between(
                    price_field,
                    Decimal(0),
                    threshold(project, "low_price_threshold"),
                    upper_inclusive=False,
                ),
                [price_field],
            )
        return
    stock_field = str(setting(project, "stock_field"))
    if name == "low-stock":
        plan.check(
            _between(
                stock_field,
                Decimal(0),
                threshold(project, "low_stock_threshold"),
                upper_inclusive=True,
            ),
            [stock_field],
        )
    elif name == "in-stock":
        plan.check(_between(stock_field, Decimal(0), None, upper_inclusive=True), {stock_field})
    else:

        def out(data: Mapping[str, Any], key: str) -> bool:
            stock = to_number(data.get(stock_field))
            return stock is not None and stock <= 0

        plan.check(out, {stock_field})


def _between(name: str, low: Decimal, high: Decimal | None, *, upper_inclusive: bool) -> Check:
    """A number above `low` and below (or at) `high`."""

    def check(data: Mapping[str, Any], key: str) -> bool:
        number = to_number(data.get(name))
        if number is None or number <= low:
            return False
        if high is None:
            return True
        return number <= high if upper_inclusive else number < high

    return check


def _connection(store: Store, project: dict[str, Any], spec: SetSpec) -> dict[str, Any]:
    connection: dict[str, Any] | None = store.connections.find_one({"_id": spec.argument})
    if connection is None or connection["project_id"] != project["_id"]:
        raise Invalid(
            f"record set {spec.text!r}: {spec.argument!r} is not a connection of project "
            f"{project['_id']!r}",
            errors={"set": [f"{spec.text}: unknown connection"]},
        )
    return connection


def _issue_keys(store: Store, project: dict[str, Any], batch_size: int) -> KeyStream:
    """Keys with an open issue on any of the project's connections (not whole-source ones)."""
    owners = [c["_id"] for c in store.connections.find({"project_id": project["_id"]}, {"_id": 1})]

    def stream() -> Iterator[str]:
        per_connection = (
            keys_of(store.issues, owner, projection={"_id": 1}, batch_size=batch_size)
            for owner in sorted(owners)
        )
        return (key for key in union(per_connection) if key != WHOLE_SOURCE)

    return stream


def _channel_keys(
    store: Store,
    channel: dict[str, Any],
    keep: Callable[[Mapping[str, Any]], bool],
    batch_size: int,
    states: Iterable[str] | None = None,
) -> KeyStream:
    """Keys of the channel's change documents that `keep` accepts, in key order (a range
    scan of the change `_id`s `<connection>:<key>`)."""
    query = {"state": {"$in": list(states)}} if states is not None else None
    projection = {"op": 1, "state": 1, "hash": 1, "acked_hash": 1}

    def stream() -> Iterator[str]:
        return keys_of(
            store.changes,
            channel["_id"],
            keep,
            query=query,
            projection=projection,
            batch_size=batch_size,
        )

    return stream


def _nothing() -> Iterator[str]:
    return iter(())


def _listed(doc: Mapping[str, Any]) -> bool:
    return doc.get("hash") is not None


def _add_channel(
    store: Store, project: dict[str, Any], spec: SetSpec, plan: RecordSelection
) -> None:
    channel = _connection(store, project, spec)
    name, size = spec.name, plan.batch_size
    if name == "on":
        plan.include.append(_channel_keys(store, channel, _listed, size))
    elif name in ("published", "unpublished"):
        keys = _channel_keys(store, channel, lambda d: d.get("acked_hash") is not None, size)
        (plan.include if name == "published" else plan.exclude).append(keys)
    elif name == "active":
        held = set(HELD_STATES)
        if channel.get("paused"):
            plan.include.append(_nothing)
        else:
            plan.include.append(
                _channel_keys(store, channel, lambda d: _listed(d) and d["state"] not in held, size)
            )
    elif name == "paused":
        if channel.get("paused"):
            plan.include.append(_channel_keys(store, channel, _listed, size))
        else:
            plan.include.append(_channel_keys(store, channel, lambda d: True, size, HELD_STATES))
    elif name in ("pending-updates", "pending-creates"):
        op = "update" if name == "pending-updates" else "insert"
        plan.include.append(
            _channel_keys(store, channel, lambda d: d.get("op") == op, size, PENDING_STATES)
        )
    else:
        _add_category(store, project, channel, name == "category", plan)


def _add_category(
    store: Store,
    project: dict[str, Any],
    channel: dict[str, Any],
    wanted: bool,
    plan: RecordSelection,
) -> None:
    """Whether the channel's view of the record (its rules applied) has a category."""
    rules = channel_rules(project, channel, key_field(store, project))
    category_field = str(channel.get("category_field") or DEFAULT_CATEGORY_FIELD)

    def check(data: Mapping[str, Any], key: str) -> bool:
        view = rules.apply(dict(data))
        if view is None:
            return False
        value = view.get(category_field)
        has = value not in (None, "", [], {})
        return has if wanted else not has

    plan.check(check, None)


def key_field(store: Store, project: dict[str, Any]) -> str:
    """The key field of the project's primary source (as the run uses it)."""
    source = store.connections.find_one({"project_id": project["_id"], "role": "source"})
    return str((source or {}).get("settings", {}).get("key", "sku")) if source else "sku"
