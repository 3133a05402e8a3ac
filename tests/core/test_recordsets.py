"""Record and order sets on small catalogs with known answers (mongomock, and once over the
wire on nx-27017, since the filters must mean the same on every store)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from core.errors import Invalid
from core.recordsets import UnknownSet, channel_states, order_filter, select_records
from core.store import Store

PID = "prj_1"

CATALOG: dict[str, dict[str, Any]] = {
    "A": {
        "sku": "A",
        "brand": "Acme",
        "size": "M",
        "colour": "red",
        "stock": "0",
        "price": "9.90",
        "ean": "4006381333931",
        "category": "Shirts",
    },
    "B": {
        "sku": "B",
        "brand": "Acme",
        "size": "L",
        "color": "blue",
        "stock": "3",
        "price": "0.50",
        "ean": "",
    },
    "C": {"sku": "C", "brand": "Bolt", "size": 42, "colour": "red", "stock": 12, "price": "-1"},
    "D": {"sku": "D", "brand": "Bolt", "stock": "lots", "price": "n/a", "category": ""},
    "E": {"sku": "E", "brand": "acme", "stock": "5", "price": "19.00"},
}


def _channel(cid: str, **extra: Any) -> dict[str, Any]:
    return {
        "_id": cid,
        "project_id": PID,
        "name": cid.upper(),
        "connector": "file",
        "role": "channel",
        "paused": False,
        "order": 0,
        "rules": [],
        "created_at": 0,
        **extra,
    }


def _change(cid: str, key: str, op: str, state: str, *, acked: bool) -> dict[str, Any]:
    return {
        "_id": f"{cid}:{key}",
        "project_id": PID,
        "connection_id": cid,
        "key": key,
        "op": op,
        "state": state,
        "hash": None if op == "delete" else f"h-{key}",
        "acked_hash": f"old-{key}" if acked else None,
    }


def seed(store: Store) -> dict[str, Any]:
    project = {"_id": PID, "tenant_id": "ten_1", "name": "Shop", "timezone": "Europe/Berlin"}
    store.projects.insert_one(project)
    store.records.insert_many(
        [
            {"_id": f"{PID}:{k}", "project_id": PID, "key": k, "data": d, "hash": k}
            for k, d in CATALOG.items()
        ]
    )
    # another project's record with everything, which no set may ever return
    store.records.insert_one(
        {"_id": "prj_2:A", "project_id": "prj_2", "key": "A", "data": CATALOG["A"], "hash": "x"}
    )
    store.connections.insert_many(
        [
            _channel("con_a", rules=[{"op": "filter", "where": {"field": "brand", "ne": "Bolt"}}]),
            _channel("con_p", paused=True),
            {**_channel("con_src"), "role": "source", "settings": {"key": "sku"}},
        ]
    )
    store.changes.insert_many(
        [
            _change("con_a", "A", "none", "done", acked=True),
            _change("con_a", "B", "update", "pending", acked=True),
            _change("con_a", "E", "insert", "unapproved", acked=False),
            _change("con_a", "C", "delete", "pending", acked=True),
            _change("con_p", "A", "insert", "pending", acked=False),
            _change("con_p", "D", "update", "failed", acked=True),
        ]
    )
    store.issues.insert_many(
        [
            {"_id": "con_a:B", "project_id": PID, "connection_id": "con_a", "key": "B"},
            {"_id": "con_src:*", "project_id": PID, "connection_id": "con_src", "key": "*"},
        ]
    )
    return project


def keys(store: Store, project: dict[str, Any], *sets: str, batch_size: int = 500) -> list[str]:
    """The keys of the selection's first page, checked against its key stream and total."""
    selection = select_records(store, project, list(sets), batch_size=batch_size)
    page = selection.page(0, 100)
    found = [doc["key"] for doc in page.records]
    assert (page.total, page.exact) == (len(found), True)
    assert list(selection.keys()) == found
    return found


@pytest.fixture
def project(store: Store) -> dict[str, Any]:
    return seed(store)


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        ((), ["A", "B", "C", "D", "E"]),
        (("with:ean",), ["A"]),
        (("without:ean",), ["B", "C", "D", "E"]),
        (("without:category",), ["B", "C", "D", "E"]),
        (("brand:Acme",), ["A", "B"]),
        (("size:42",), ["C"]),
        (("size:M",), ["A"]),
        (("colour:red",), ["A", "C"]),
        (("color:blue",), ["B"]),
        (("out-of-stock",), ["A"]),
        (("in-stock",), ["B", "C", "E"]),
        (("low-stock",), ["B", "E"]),
        (("low-price",), ["B"]),
        (("bad-price",), ["C", "D"]),
        (("with-issues",), ["B"]),
        (("without-issues",), ["A", "C", "D", "E"]),
        (("on:con_a",), ["A", "B", "E"]),
        (("published:con_a",), ["A", "B", "C"]),
        (("unpublished:con_a",), ["D", "E"]),
        (("active:con_a",), ["A", "B"]),
        (("paused:con_a",), ["E"]),
        (("paused:con_p",), ["A", "D"]),
        (("active:con_p",), []),
        (("pending-updates:con_a",), ["B"]),
        (("pending-creates:con_a",), ["E"]),
        (("pending-creates:con_p",), ["A"]),
        (("category:con_a",), ["A"]),
        (("without-category:con_a",), ["B", "E"]),
    ],
)
@pytest.mark.parametrize("batch_size", [2, 500])
def test_each_record_set_selects_the_records_it_names(
    store: Store,
    project: dict[str, Any],
    sets: tuple[str, ...],
    expected: list[str],
    batch_size: int,
) -> None:
    assert keys(store, project, *sets, batch_size=batch_size) == expected


def test_sets_given_together_are_intersected(store: Store, project: dict[str, Any]) -> None:
    assert keys(store, project, "brand:Acme", "in-stock") == ["B"]
    assert keys(store, project, "on:con_a", "without-issues", "colour:red") == ["A"]
    assert keys(store, project, "published:con_a", "unpublished:con_a") == []
    assert keys(store, project, "low-stock", "low-price", "with-issues") == ["B"]


def test_thresholds_are_project_settings(store: Store, project: dict[str, Any]) -> None:
    project.update(low_stock_threshold=3, low_price_threshold="20")
    assert keys(store, project, "low-stock") == ["B"]
    assert keys(store, project, "low-price") == ["A", "B", "E"]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("bogus", "'bogus' is not a known set"),
        ("on", "needs an argument"),
        ("with-issues:x", "takes no argument"),
        ("with:$where", "field name"),
    ],
)
def test_a_bad_set_is_refused_naming_it_and_listing_the_valid_ones(
    store: Store, project: dict[str, Any], text: str, named: str
) -> None:
    with pytest.raises(UnknownSet) as caught:
        select_records(store, project, [text])
    assert caught.value.status == 422
    assert named in caught.value.message
    assert "pending-creates:<connection>" in caught.value.message
    assert "low-stock" in caught.value.errors["valid_sets"]


def test_a_connection_of_another_project_is_refused(store: Store, project: dict[str, Any]) -> None:
    store.connections.insert_one({**_channel("con_x"), "project_id": "prj_2"})
    with pytest.raises(Invalid, match="not a connection of project"):
        select_records(store, project, ["on:con_x"])


def test_each_record_shows_its_state_on_each_channel(store: Store, project: dict[str, Any]) -> None:
    channels = list(store.connections.find({"role": "channel"}).sort("_id", 1))
    states = channel_states(store, channels, ["A", "B", "C", "D", "E"])
    shown = {key: [row["state"] for row in rows] for key, rows in states.items()}
    assert shown == {
        "A": ["in_sync", "pending_insert"],
        "B": ["pending_update", "not_listed"],
        "C": ["pending_delete", "not_listed"],
        "D": ["not_listed", "pending_update"],
        "E": ["pending_insert", "not_listed"],
    }
    assert states["E"][0]["change_state"] == "unapproved"


def _order(key: str, at: str, **extra: Any) -> dict[str, Any]:
    moment = datetime.fromisoformat(at).replace(tzinfo=UTC)
    return {
        "_id": f"{PID}:orders:{key}",
        "project_id": PID,
        "kind": "orders",
        "key": key,
        "data": {"id": key, "status": extra.pop("status", "processing")},
        "marks": extra.pop("marks", {}),
        "connection_id": extra.pop("connection_id", "con_shop"),
        "ordered_at": int(moment.timestamp() * 1000),
        **extra,
    }


def seed_orders(store: Store) -> None:
    store.connections.insert_many(
        [
            {**_channel("con_shop"), "connector": "shop"},
            {
                **_channel("con_wh"),
                "connector": "warehouse",
                "settings": {"deliver_statuses": ["processing"]},
            },
        ]
    )
    store.documents.insert_many(
        [
            # 23:30 UTC on 24 Nov is 00:30 on 25 Nov in Berlin: "today" there
            _order("1", "2026-11-24T23:30:00"),
            _order("2", "2026-11-24T22:30:00", marks={"delivered": {"id": "w1"}}),
            _order("3", "2026-11-17T10:00:00", status="on-hold"),
            _order("4", "2026-10-31T23:10:00", marks={"shipment": {"tracking": "T"}}),
            _order(
                "5",
                "2025-12-31T23:30:00",
                marks={"shipment": {"tracking": "U"}, "shipment_uploaded": {"at": 1}},
            ),
            _order("6", "2026-11-25T12:00:00", connection_id="con_other"),
        ]
    )
    store.documents.insert_one({**_order("7", "2026-11-25T08:00:00"), "kind": "shipments"})


NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        ((), ["1", "2", "3", "4", "5", "6"]),
        (("today",), ["1", "6"]),
        (("yesterday",), ["2"]),
        (("last-week",), ["3"]),
        (("this-month",), ["1", "2", "3", "4", "6"]),
        (("month:2026-10",), []),
        (("month:2026-11", "yesterday"), ["2"]),
        (("year:2026",), ["1", "2", "3", "4", "5", "6"]),
        (("year:2025",), []),
        (("this-year", "on:con_shop"), ["1", "2", "3", "4", "5"]),
        (("pending-creates:con_wh",), ["1", "4", "5", "6"]),
        (("on:con_wh",), ["2"]),
        (("pending-updates:con_shop",), ["4"]),
        (("today", "yesterday"), []),
    ],
)
def test_order_sets_go_by_the_projects_timezone(
    store: Store, project: dict[str, Any], sets: tuple[str, ...], expected: list[str]
) -> None:
    seed_orders(store)
    found = store.documents.find(order_filter(store, project, list(sets), now=NOW)).sort("key", 1)
    assert [doc["key"] for doc in found] == expected


def test_order_sets_refuse_bad_dates_and_connections_that_take_no_orders(
    store: Store, project: dict[str, Any]
) -> None:
    seed_orders(store)
    for text in ("month:2026-13", "year:26", "month:november", "tomorrow"):
        with pytest.raises(UnknownSet, match=text):
            order_filter(store, project, [text])
    with pytest.raises(Invalid, match="does not take orders"):
        order_filter(store, project, ["pending-creates:con_shop"])


def test_record_sets_mean_the_same_over_the_wire(nx_store: Store) -> None:
    project = seed(nx_store)
    for sets, expected in [
        (("with:ean",), ["A"]),
        (("without:ean",), ["B", "C", "D", "E"]),
        (("colour:red", "brand:Bolt"), ["C"]),
        (("size:42",), ["C"]),
        (("on:con_a", "without-issues"), ["A", "E"]),
        (("low-stock",), ["B", "E"]),
    ]:
        assert keys(nx_store, project, *sets) == expected, sets
    seed_orders(nx_store)
    found = nx_store.documents.find(order_filter(nx_store, project, ["today"], now=NOW))
    assert sorted(doc["key"] for doc in found) == ["1", "6"]
    pending = nx_store.documents.find(
        order_filter(nx_store, project, ["pending-creates:con_wh"], now=NOW)
    )
    assert sorted(doc["key"] for doc in pending) == ["1", "4", "5", "6"]


# -- big catalogs: pages read in batches, never a key list past a batch -------------------------

ODD_KEYS = ["Z:9", "a b", "é-1", "A_1"]


def big_catalog(size: int) -> list[str]:
    return sorted([f"K{i:04d}" for i in range(size)] + ODD_KEYS)


def seed_big(store: Store, size: int) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A catalog of `size` (+ a few odd keys) with one channel and issues, and the keys that
    each set tested below should give, worked out here record by record."""
    project = {"_id": PID, "tenant_id": "ten_1", "name": "Big", "timezone": "UTC"}
    store.projects.insert_one(project)
    store.connections.insert_many([_channel("con_a"), _channel("con_b")])
    records, changes, issues = [], [], []
    expected: dict[str, list[str]] = {
        "on+in-stock+without-issues": [],
        "unpublished+brand": [],
        "with-issues+low-stock": [],
        "in-stock": [],
        "pending-updates": [],
    }
    for i, key in enumerate(big_catalog(size)):
        stock, brand = i % 7, "Acme" if i % 2 else "Bolt"
        records.append(
            {
                "_id": f"{PID}:{key}",
                "project_id": PID,
                "key": key,
                "data": {"sku": key, "stock": str(stock), "brand": brand},
                "hash": key,
            }
        )
        listed, acked, pending = i % 3 != 0, i % 4 == 0, i % 5 == 0
        if listed:
            op, state = ("update", "pending") if pending else ("none", "done")
            changes.append(_change("con_a", key, op, state, acked=acked))
        issue = i % 11 == 0
        if issue:
            issues.append({"_id": f"con_b:{key}", "project_id": PID, "connection_id": "con_b"})
        if listed and stock > 0 and not issue:
            expected["on+in-stock+without-issues"].append(key)
        if not (listed and acked) and brand == "Acme":
            expected["unpublished+brand"].append(key)
        if issue and 0 < stock <= 5:
            expected["with-issues+low-stock"].append(key)
        if stock > 0:
            expected["in-stock"].append(key)
        if listed and pending:
            expected["pending-updates"].append(key)
    store.records.insert_many(records)
    store.changes.insert_many(changes)
    store.issues.insert_many(issues)
    # a change and an issue of a record that is gone, and another project's records
    store.changes.insert_one(_change("con_a", "K9999", "delete", "pending", acked=True))
    store.issues.insert_one({"_id": "con_a:K9998", "project_id": PID, "connection_id": "con_a"})
    store.records.insert_one({"_id": "prj_2:K0001", "project_id": "prj_2", "key": "K0001"})
    return project, expected


BIG_SETS = {
    "on+in-stock+without-issues": ["on:con_a", "in-stock", "without-issues"],
    "unpublished+brand": ["unpublished:con_a", "brand:Acme"],
    "with-issues+low-stock": ["with-issues", "low-stock"],
    "in-stock": ["in-stock"],
    "pending-updates": ["pending-updates:con_a"],
}


def pages(store: Store, project: dict[str, Any], sets: list[str], size: int, batch: int) -> Any:
    """Every page of the selection in turn, until one comes back short."""
    selection = select_records(store, project, sets, batch_size=batch)
    first = 0
    while True:
        page = selection.page(first, size)
        yield page
        if len(page.records) < size:
            return
        first += size


def in_lists_of(monkeypatch: pytest.MonkeyPatch, store: Store) -> list[int]:
    """The length of every `_id: {$in: [...]}` list sent to the records and changes."""
    sizes: list[int] = []
    for collection in (store.records, store.changes, store.issues):
        find = collection.find

        def spy(query: Any = None, *args: Any, _find: Any = find, **kwargs: Any) -> Any:
            ids = (query or {}).get("_id")
            if isinstance(ids, dict) and "$in" in ids:
                sizes.append(len(ids["$in"]))
            return _find(query, *args, **kwargs)

        monkeypatch.setattr(collection, "find", spy)
    return sizes


@pytest.mark.parametrize("name", sorted(BIG_SETS))
def test_a_set_over_a_catalog_of_many_batches_pages_through_every_record(
    store: Store, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    project, expected = seed_big(store, 2500)
    sizes = in_lists_of(monkeypatch, store)
    seen: list[str] = []
    for page in pages(store, project, BIG_SETS[name], size=600, batch=200):
        assert (page.total, page.exact) == (len(expected[name]), True)
        seen += [doc["key"] for doc in page.records]
        assert all("data" in doc and "hash" in doc for doc in page.records)
    assert seen == expected[name] and len(seen) > 100
    assert max(sizes, default=0) <= 600


def test_counting_stops_past_the_limit_and_says_the_total_is_a_lower_bound(
    store: Store,
) -> None:
    project, expected = seed_big(store, 2500)
    wanted = expected["on+in-stock+without-issues"]
    selection = select_records(store, project, BIG_SETS["on+in-stock+without-issues"])
    first = selection.page(0, 10, count_limit=50)
    assert [doc["key"] for doc in first.records] == wanted[:10]
    assert (first.total, first.exact) == (51, False)
    # a page past the limit is still read, and counted at least to its end (+1: more follow)
    far = selection.page(600, 10, count_limit=50)
    assert [doc["key"] for doc in far.records] == wanted[600:610]
    assert (far.total, far.exact) == (611, False)
    # a limit above the total counts exactly
    assert selection.page(0, 10, count_limit=10_000).total == len(wanted)


def test_a_big_set_pages_the_same_over_the_wire(nx_store: Store) -> None:
    project, expected = seed_big(nx_store, 400)
    for name in ("on+in-stock+without-issues", "unpublished+brand", "pending-updates"):
        seen: list[str] = []
        for page in pages(nx_store, project, BIG_SETS[name], size=70, batch=30):
            assert page.total == len(expected[name]), name
            seen += [doc["key"] for doc in page.records]
        assert seen == expected[name], name
