"""The record index's delta log: a run that changes a few keys of a large catalog writes about
as much as it changed, the deltas are folded into the buckets once they grow, and whatever
order of runs, rebuilds and crashes, `load` gives the map the runs committed."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import bson
import mongomock
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.maintenance import run_integrity
from core.pipeline import index as index_module
from core.pipeline.hashing import BUCKETS, bucket_of
from core.pipeline.index import RecordIndex, pack
from core.projects import delete_project
from core.store import Store
from core.versions import CURRENT, FIELD

Edits = tuple[list[tuple[str, int]], list[str]]


class CountingCollection:
    """The `record_index` collection, counting the documents and BSON bytes written to it.
    A write for which `fail_on(method, document)` holds raises instead, as a crash there
    would leave things."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.documents = 0
        self.bytes = 0
        self.fail_on: Callable[[str, dict[str, Any]], bool] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)

    def _count(self, method: str, docs: list[dict[str, Any]]) -> None:
        if self.fail_on is not None and any(self.fail_on(method, doc) for doc in docs):
            raise ConnectionError("the database went away")
        self.documents += len(docs)
        self.bytes += sum(len(bson.encode(doc)) for doc in docs)

    def replace_one(self, query: Any, doc: dict[str, Any], **kwargs: Any) -> Any:
        self._count("replace_one", [doc])
        return self.collection.replace_one(query, doc, **kwargs)

    def bulk_write(self, requests: list[Any], **kwargs: Any) -> Any:
        self._count("bulk_write", [request._doc for request in requests])
        return self.collection.bulk_write(requests, **kwargs)

    def delete_many(self, query: dict[str, Any], **kwargs: Any) -> Any:
        self._count("delete_many", [query])
        return self.collection.delete_many(query, **kwargs)


def _counted(store: Store) -> CountingCollection:
    counting = CountingCollection(store.record_index)
    store.record_index = counting  # type: ignore[assignment]
    return counting


def _fails_writing_the_manifest(method: str, doc: dict[str, Any]) -> bool:
    return doc.get("_id") == "p:manifest"


def _catalog(size: int) -> dict[str, int]:
    rng = random.Random(size)
    return {f"K-{n:06d}": rng.getrandbits(64) for n in range(size)}


def _edits(model: dict[str, int], rng: random.Random, changed: int) -> Edits:
    """`changed` random edits, made to `model` too: a half updates, a quarter new keys, the
    rest deletes."""
    keys = rng.sample(list(model), changed - changed // 4)
    half = changed // 2
    upserts = [(key, rng.getrandbits(64)) for key in keys[:half]]
    upserts += [(f"N-{rng.getrandbits(40):010x}", rng.getrandbits(64)) for _ in range(changed // 4)]
    deletes = keys[half:]
    model.update(upserts)
    for key in deletes:
        del model[key]
    return upserts, deletes


def _run(index: RecordIndex, model: dict[str, int], rng: random.Random, changed: int) -> int:
    return index.apply(*_edits(model, rng, changed))


def _delta_docs(store: Store) -> list[dict[str, Any]]:
    return list(store.record_index.find({"delta": {"$exists": True}}))


def _manifest(store: Store) -> dict[str, Any]:
    return store.record_index.find_one({"_id": "p:manifest"}) or {}


def _indexed(store: Store, size: int) -> tuple[RecordIndex, dict[str, int]]:
    index = RecordIndex(store, "p")
    model = _catalog(size)
    index.apply(model.items(), ())
    return index, model


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Limits scaled down, so that catalogs of a few hundred keys take deltas and fold them."""
    monkeypatch.setattr(index_module, "SMALL_BASE", 20)
    monkeypatch.setattr(index_module, "ENTRIES_PER_DELTA", 10)
    monkeypatch.setattr(index_module, "MAX_DELTAS", 6)


def test_a_small_run_on_a_large_catalog_writes_about_what_it_changed(store: Store) -> None:
    index, model = _indexed(store, 20_000)
    one_bucket = len(bson.encode(store.record_index.find_one({"_id": "p:000"}) or {}))
    counting = _counted(store)
    rng = random.Random(1)

    written = [_run(index, model, rng, 40)]
    bytes_of_40 = counting.bytes
    written.append(_run(index, model, rng, 3_000))

    assert written == [2, 2]  # one delta document and the manifest, each time
    assert counting.documents == 4
    assert bytes_of_40 < 40 * 50 + 400 and bytes_of_40 < one_bucket
    assert index.load() == model


def test_many_small_runs_load_as_the_map_they_committed_and_are_folded_in_time(
    store: Store,
) -> None:
    index, model = _indexed(store, 5_000)
    rng = random.Random(2)
    live_deltas = []
    for _ in range(30):
        _run(index, model, rng, 100)
        assert index.load() == model
        live_deltas.append(len(_manifest(store)["deltas"]))
        if not live_deltas[-1]:
            assert _manifest(store)["base_entries"] == len(model)

    # 20 % of 5,000 entries is ten runs' worth of deltas: the eleventh folds them into the base
    assert live_deltas[:12] == [*range(1, 11), 0, 1]
    assert live_deltas.count(0) == 2 and len(_delta_docs(store)) == live_deltas[-1]


def test_compaction_leaves_only_buckets_holding_the_whole_map(store: Store) -> None:
    index, model = _indexed(store, 2_500)
    rng = random.Random(3)
    touched: set[int] = set()
    written = []
    for _ in range(6):  # 500 delta entries are 20 % of the base; the sixth run folds them
        upserts, deletes = _edits(model, rng, 100)
        touched |= {bucket_of(key) for key in [*(key for key, _ in upserts), *deletes]}
        written.append(index.apply(upserts, deletes))

    assert written == [2] * 5 + [len(touched) + 1]
    assert _delta_docs(store) == [] and store.record_index.count_documents({}) == BUCKETS + 1
    assert _manifest(store)["deltas"] == [] and _manifest(store)["base_entries"] == len(model)
    assert index.load() == model


def test_a_crash_before_the_manifest_is_written_leaves_the_map_as_it_was(
    store: Store, small_limits: None
) -> None:
    index, model = _indexed(store, 200)
    committed = dict(model)
    counting = _counted(store)
    counting.fail_on = _fails_writing_the_manifest
    with pytest.raises(ConnectionError):
        _run(index, model, random.Random(4), 35)
    assert len(_delta_docs(store)) == 4  # written, never listed
    assert index.load() == committed

    counting.fail_on = None
    _run(index, committed, random.Random(5), 5)  # takes the first seq again, not the rest
    assert index.load() == committed


def _fails_writing_the_upper_buckets(method: str, doc: dict[str, Any]) -> bool:
    return int(doc.get("bucket", -1)) >= BUCKETS // 2


@pytest.mark.parametrize("fail_on", [_fails_writing_the_upper_buckets, _fails_writing_the_manifest])
def test_a_crash_while_folding_leaves_every_key_old_or_new_and_a_rebuild_mends_it(
    store: Store, small_limits: None, fail_on: Callable[[str, dict[str, Any]], bool]
) -> None:
    index, model = _indexed(store, 200)
    rng = random.Random(6)
    for _ in range(3):
        _run(index, model, rng, 10)
    committed = dict(model)
    upserts, deletes = _edits(model, rng, 40)  # past 20 % of the base: folds
    counting = _counted(store)
    counting.fail_on = fail_on
    with pytest.raises(ConnectionError):
        index.apply(upserts, deletes)
    assert len(_manifest(store)["deltas"]) == 3  # still listed

    loaded = index.load()
    edited = {key for key, _ in upserts} | set(deletes)
    assert {k: v for k, v in loaded.items() if k not in edited} == {
        k: v for k, v in committed.items() if k not in edited
    }
    assert all(loaded.get(key) in (committed.get(key), model.get(key)) for key in edited)

    counting.fail_on = None
    index.rebuild((key, f"{value:016x}") for key, value in model.items())
    assert index.load() == model and _delta_docs(store) == []


def test_a_crash_before_the_folded_deltas_are_deleted_changes_nothing(
    store: Store, small_limits: None
) -> None:
    index, model = _indexed(store, 200)
    rng = random.Random(7)
    for _ in range(3):
        _run(index, model, rng, 10)
    counting = _counted(store)
    counting.fail_on = lambda method, doc: method == "delete_many"
    with pytest.raises(ConnectionError):
        _run(index, model, rng, 40)
    assert len(_delta_docs(store)) == 3 and _manifest(store)["deltas"] == []
    assert index.load() == model

    counting.fail_on = None
    _run(index, model, rng, 5)
    assert index.load() == model


def test_buckets_without_a_manifest_are_counted_once_then_take_deltas(store: Store) -> None:
    """An index an older syncfarm wrote: packed buckets, no manifest."""
    model = _catalog(3_000)
    by_bucket: dict[int, dict[str, int]] = {}
    for key, value in model.items():
        by_bucket.setdefault(bucket_of(key), {})[key] = value
    store.record_index.insert_many(
        {"_id": f"p:{b:03d}", "project_id": "p", "bucket": b, "packed": pack(e), FIELD: 2}
        for b, e in by_bucket.items()
    )
    index = RecordIndex(store, "p")
    rng = random.Random(8)

    assert _run(index, model, rng, 20) <= 21  # the buckets it touched, and the manifest
    assert _manifest(store)["base_entries"] == len(model)
    assert _run(index, model, rng, 20) == 2
    assert index.load() == model


def test_a_rebuild_leaves_buckets_and_a_fresh_manifest(store: Store, small_limits: None) -> None:
    index, model = _indexed(store, 200)
    _run(index, model, random.Random(9), 10)
    assert _delta_docs(store)

    index.rebuild([("A", "00000000000000ff"), ("B", "0000000000000001")])
    assert index.load() == {"A": 255, "B": 1}
    assert _delta_docs(store) == []
    assert _manifest(store)["deltas"] == [] and _manifest(store)["base_entries"] == 2


def test_every_document_of_the_index_is_current_and_goes_with_its_project(
    store: Store, small_limits: None
) -> None:
    store.projects.insert_one({"_id": "p", "tenant_id": "t", FIELD: CURRENT["projects"]})
    index, model = _indexed(store, 200)
    _run(index, model, random.Random(10), 15)
    docs = list(store.record_index.find())
    assert len(_delta_docs(store)) == 2 and _manifest(store)
    assert {doc[FIELD] for doc in docs} == {CURRENT["record_index"]}
    assert {doc["project_id"] for doc in docs} == {"p"}
    assert run_integrity(store).upgraded == 0 and index.load() == model

    delete_project(store, "t", "p")
    assert store.record_index.count_documents({}) == 0


def test_deltas_and_compaction_over_the_wire(nx_store: Store, small_limits: None) -> None:
    index, model = _indexed(nx_store, 300)
    rng = random.Random(11)
    live_deltas = []
    for _ in range(10):
        _run(index, model, rng, 8)
        live_deltas.append(len(_manifest(nx_store)["deltas"]))
        assert index.load() == model
    # six deltas at most; the seventh run folds them
    assert live_deltas == [1, 2, 3, 4, 5, 6, 0, 1, 2, 3]


_KEY = st.integers(0, 60)
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("apply"), st.dictionaries(_KEY, st.none() | st.integers(0, 2**64 - 1))),
        st.tuples(st.just("rebuild"), st.dictionaries(_KEY, st.integers(0, 99))),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(ops=_OPS)
def test_any_sequence_of_runs_and_rebuilds_loads_as_a_dict_would(
    ops: list[tuple[str, dict[int, int | None]]],
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(index_module, "SMALL_BASE", 8)
        patch.setattr(index_module, "ENTRIES_PER_DELTA", 3)
        patch.setattr(index_module, "MAX_DELTAS", 5)
        patch.setattr(index_module, "DELTA_SHARE", 0.5)
        store = Store(mongomock.MongoClient(tz_aware=True)["syncfarm_test"])
        index = RecordIndex(store, "p")
        model: dict[str, int] = {}
        for kind, edits in ops:
            named = {f"K{n}": value for n, value in edits.items()}
            if kind == "rebuild":
                model = {key: value for key, value in named.items() if value is not None}
                index.rebuild((key, f"{value:016x}") for key, value in model.items())
            else:
                upserts = [(key, value) for key, value in named.items() if value is not None]
                deletes = [key for key, value in named.items() if value is None]
                index.apply(upserts, deletes)
                model.update(upserts)
                for key in deletes:
                    model.pop(key, None)
            assert index.load() == model
