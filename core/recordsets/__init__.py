"""Named sets of records and orders: what the REST API's `set=` parameters and the
dashboard's records browser filter by.

Public functions (each raises `UnknownSet`, an `Invalid` answered 422, for an unknown set name
or a bad argument, naming it and listing the valid names; and `Invalid` for a connection that
is not the project's):

    select_records(store, project, sets, *, batch_size=BATCH_SIZE) -> RecordSelection
        The project's records that are in every one of `sets` (strings such as "on:con_1",
        "with:ean", "low-stock"); with no sets every record of the project. Read it with
        `.page(first, size) -> Page(records, total, exact)` (records by key; `exact` False when
        counting stopped at `COUNT_LIMIT`, the total then a lower bound) or `.keys()` (every
        key, in order). It never holds more than a batch of keys, nor sends an `$in` list of
        more than `batch_size` ids (see `selection`).

    order_filter(store, project, sets, *, now=None) -> dict
        The same on `store.documents` for the project's orders ("today", "month:2026-11",
        "pending-creates:con_2"…), periods in the project's timezone. Order sets are
        conditions on the order documents only (no key lists): one query, counted by MongoDB.

    channel_states(store, channels, keys) -> {key: [{connection_id, name, state,
        change_state}]}
        Each record's state on each channel: in_sync, pending_insert, pending_update,
        pending_delete or not_listed (see `states`).

`RECORD_SETS.usage()` and `ORDER_SETS.usage()` list the valid set strings. The grammar is in
`grammar`, each set's meaning in `records` and `orders` (and in the README, "Record and order
sets"); the thresholds are project settings (`core.record_set_settings`).
"""

from __future__ import annotations

from core.record_set_settings import RECORD_SET_DEFAULTS
from core.recordsets.grammar import SetSpec, UnknownSet, parse_sets
from core.recordsets.orders import ORDER_SETS, order_filter
from core.recordsets.records import RECORD_SETS, select_records
from core.recordsets.selection import COUNT_LIMIT, Page, RecordSelection
from core.recordsets.states import CHANNEL_STATES, channel_states

__all__ = [
    "CHANNEL_STATES",
    "COUNT_LIMIT",
    "ORDER_SETS",
    "RECORD_SETS",
    "RECORD_SET_DEFAULTS",
    "Page",
    "RecordSelection",
    "SetSpec",
    "UnknownSet",
    "channel_states",
    "order_filter",
    "parse_sets",
    "select_records",
]
