"""The catalog a file channel publishes: which generation of the records it is, and a run's
publication told what its commit changed reads only those records."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from core.pipeline.catalog import ChannelCatalog
from core.pipeline.changes import ChannelChanges
from core.pipeline.channel_view import rules_fingerprint
from core.pipeline.exporter import Exporter
from core.pipeline.hashing import content_hash
from core.store import Store
from plugins.base import CatalogDelta, ConnectorContext, Record
from plugins.file import FileConnector, FileSettings

PROJECT: dict[str, Any] = {"_id": "prj_p", "rules": []}
CHANNEL: dict[str, Any] = {"_id": "con_f", "settings": {}, "rules": []}


def _catalog(store: Store, delta: CatalogDelta | None = None) -> ChannelCatalog:
    changes = ChannelChanges(store, PROJECT, CHANNEL)
    return ChannelCatalog(store, PROJECT, CHANNEL, changes, set(), delta=delta)


def _save(store: Store, records: dict[str, Record], generation: str) -> dict[str, int]:
    """Store the records as a commit does; returns their hashes."""
    hashes = {}
    for key, data in records.items():
        digest = content_hash(data)
        hashes[key] = int(digest, 16)
        store.records.replace_one(
            {"_id": f"prj_p:{key}"},
            {
                "_id": f"prj_p:{key}",
                "project_id": "prj_p",
                "key": key,
                "data": data,
                "hash": digest,
            },
            upsert=True,
        )
    store.projects.update_one(
        {"_id": "prj_p"}, {"$set": {"index_generation": generation}}, upsert=True
    )
    return hashes


def test_the_generation_is_the_projects_unless_a_commit_was_cut_short(store: Store) -> None:
    store.projects.insert_one({"_id": "prj_p"})
    assert _catalog(store).generation() is None  # a project from before generations
    store.projects.update_one({"_id": "prj_p"}, {"$set": {"index_generation": "run_2"}})
    assert _catalog(store).generation() == "run_2"
    store.projects.update_one({"_id": "prj_p"}, {"$set": {"commit_run_id": "run_3"}})
    assert _catalog(store).generation() is None


def test_an_export_told_what_the_commit_changed_reads_only_those_records(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = {f"K-{n:03d}": {"sku": f"K-{n:03d}", "price": n} for n in range(100)}
    index = _save(store, records, "run_1")
    channel = {**CHANNEL, "rules_fingerprint": rules_fingerprint(PROJECT, CHANNEL)}
    context = ConnectorContext(project_id="prj_p", connection_id="con_f", data_dir=tmp_path)
    connector = FileConnector(FileSettings().load({}), context)

    def export(delta: CatalogDelta | None) -> dict[str, int]:
        return Exporter(
            store,
            PROJECT,
            connector_for=lambda channel: connector,
            key_field="sku",
            run_id="run_x",
            index=index,
            delta=delta,
        ).export_file(channel)

    assert export(None)["rendered"] == 100
    store.records.delete_one({"_id": "prj_p:K-050"})
    changed = _save(store, {"K-007": {"sku": "K-007", "price": 700}}, "run_2")
    read: list[Sequence[str] | None] = []
    views = ChannelCatalog.views

    def counted(catalog: ChannelCatalog, keys: Sequence[str] | None = None) -> Iterator[Any]:
        read.append(None if keys is None else list(keys))
        return views(catalog, keys)

    def unwanted(catalog: ChannelCatalog) -> dict[str, int] | None:
        raise AssertionError("the hashes of every record were read")

    monkeypatch.setattr(ChannelCatalog, "views", counted)
    monkeypatch.setattr(ChannelCatalog, "hashes", unwanted)
    counts = export(CatalogDelta("run_1", "run_2", changed, ["K-050"]))
    assert counts["rendered"] == 1 and counts["written"] == 99 and read == [["K-007"]]
    lines = connector.path.read_text().splitlines()
    assert lines[0] == "sku,price" and "K-007,700" in lines and len(lines) == 100
    assert not any(line.startswith("K-050") for line in lines)


def test_views_of_the_records_the_commit_wrote_come_from_its_spool(store: Store) -> None:
    hashes = _save(store, {"A": {"sku": "A", "p": "1"}, "B": {"sku": "B", "p": "2"}}, "run_1")
    written = [("B", {"sku": "B", "p": "2"}, f"{hashes['B']:016x}")]
    delta = CatalogDelta("run_0", "run_1", {"B": hashes["B"]}, [])
    changes = ChannelChanges(store, PROJECT, CHANNEL)
    catalog = ChannelCatalog(
        store, PROJECT, CHANNEL, changes, set(), delta=delta, written=lambda: written
    )
    store.records.delete_one({"key": "B"})  # so a read of the database would not find it
    assert list(catalog.views(["B"])) == [("B", hashes["B"], {"sku": "B", "p": "2"})]
    # A key the commit did not write is read from the database.
    assert [key for key, _, _ in catalog.views(["A", "B"])] == ["A"]


def test_changes_read_ahead_of_an_update_are_those_it_would_read(store: Store) -> None:
    changes = ChannelChanges(store, PROJECT, CHANNEL)
    changes.update([("A", {"sku": "A", "p": "1"})], delivered=True)
    read = changes.read_changes(["A", "C"])
    assert read["A"] is not None and read["A"]["state"] == "done" and read["C"] is None
    store.changes.delete_many({})  # so only what was read ahead knows A was delivered
    found = changes.update(
        [("A", {"sku": "A", "p": "9"}), ("C", {"sku": "C", "p": "3"})], delivered=True, read=read
    )
    assert (found["update"], found["insert"]) == (1, 1)
    # A key the read-ahead does not hold is read from the database, here: none for B.
    store.changes.delete_many({})
    found = changes.update([("A", {"sku": "A", "p": "9"}), ("B", {"sku": "B"})], read=read)
    assert (found["update"], found["insert"]) == (0, 2)
