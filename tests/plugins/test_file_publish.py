"""The `file` channel's publication from kept renderings: after any sequence of inserts,
updates, deletes, rule and approval changes it writes the very bytes a full write would, while
reading from the catalog only the records that changed (told by the run's commit, or found by
comparing hashes); a publication cut short anywhere leaves a store the next one still gets
right."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError

from core.pipeline.hashing import content_hash
from plugins.base import CatalogDelta, ConnectorContext, Record
from plugins.file import FileConnector, FileSettings, rows_path
from plugins.writers.rendered import RenderedRows

G = "http://base.google.com/ns/1.0"


class Catalog:
    """A catalog as the framework hands it to `publish`, counting the records it reads."""

    def __init__(self, records: dict[str, Record]) -> None:
        self.records = records
        self.held_back: set[str] = set()
        self.rules_fingerprint = "rules-1"
        self.keep: Callable[[Record], bool] = lambda record: True
        self.hashes_known = True
        self.read: list[str] = []
        self.hashes_asked = 0
        self.generation_now: str | None = None
        self.committed: CatalogDelta | None = None

    def hashes(self) -> dict[str, int] | None:
        self.hashes_asked += 1
        if not self.hashes_known:
            return None
        return {key: int(content_hash(data), 16) for key, data in self.records.items()}

    def views(self, keys: Sequence[str] | None = None) -> Iterator[tuple[str, int, Any]]:
        for key in sorted(self.records) if keys is None else keys:
            self.read.append(key)
            if key not in self.records:  # as the database answers a key it does not hold
                continue
            data = self.records[key]
            yield key, int(content_hash(data), 16), data if self.keep(data) else None

    def generation(self) -> str | None:
        return self.generation_now

    def delta(self) -> CatalogDelta | None:
        return self.committed

    def commit(self, generation: str, changed: dict[str, Record], deleted: list[str]) -> None:
        """A run's commit: these records changed, these are gone, under a new generation
        (the same one when nothing changed); the next publication is told so."""
        self.records.update(changed)
        for key in deleted:
            del self.records[key]
        before = self.generation_now
        self.generation_now = generation
        hashes = {key: int(content_hash(data), 16) for key, data in changed.items()}
        self.committed = CatalogDelta(before, generation, hashes, deleted)
        self.read.clear()
        self.hashes_asked = 0


def _connector(folder: Path, settings: dict[str, Any]) -> FileConnector:
    context = ConnectorContext(project_id="p", connection_id="c", data_dir=folder)
    return FileConnector(FileSettings().load(settings), context)


def _full_write(folder: Path, settings: dict[str, Any], catalog: Catalog) -> bytes:
    connector = _connector(folder, settings)
    connector.write(
        catalog.records[key]
        for key in sorted(catalog.records)
        if key not in catalog.held_back and catalog.keep(catalog.records[key])
    )
    return connector.path.read_bytes()


def _records(count: int) -> dict[str, Record]:
    return {
        f"K-{n:04d}": {"sku": f"K-{n:04d}", "title": f"Item «{n}»", "price": n / 4, "stock": n}
        for n in range(count)
    }


SETTINGS = [
    {},
    {"columns": ["price", "sku"], "delimiter": ";"},
    {"format": "txt"},
    {"format": "json"},
    {"format": "jsonl"},
    {"format": "xml", "namespaces": {"g": G}},
    {"format": "csv", "gzip": True, "filename": "export.csv.gz"},
    {"format": "csv", "encoding": "cp1252"},
    {"format": "csv", "encoding": "utf-8-sig"},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
def test_every_publication_writes_the_bytes_a_full_write_would(
    tmp_path: Path, settings: dict[str, Any]
) -> None:
    catalog = Catalog(_records(300))
    connector = _connector(tmp_path / "kept", settings)

    def check() -> dict[str, int]:
        counts = connector.publish(catalog)
        expected = _full_write(tmp_path / f"full-{len(catalog.read)}", settings, catalog)
        assert connector.path.read_bytes() == expected
        return counts

    assert check()["rendered"] == 300
    catalog.records["K-0007"] = {**catalog.records["K-0007"], "price": 99.5}
    catalog.records["K-0100"] = {**catalog.records["K-0100"], "g:colour": "red ☃"}  # new field
    del catalog.records["K-0200"]
    catalog.records["K-9999"] = {"sku": "K-9999", "title": "late", "extra": [1, 2]}
    catalog.read.clear()
    counts = check()
    assert sorted(catalog.read) == ["K-0007", "K-0100", "K-9999"]
    assert counts["rendered"] == 3 and counts["written"] == 300
    catalog.held_back = {"K-9999", "K-0100"}
    check()
    catalog.held_back = set()
    catalog.keep = lambda record: record.get("stock") != 5
    catalog.rules_fingerprint = "rules-2"
    assert check()["written"] == 299
    del catalog.records["K-0100"]  # the only record with `g:colour`: the column goes
    catalog.read.clear()
    check()
    assert catalog.read == []


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
def test_a_publication_after_a_commit_reads_only_what_the_commit_changed(
    tmp_path: Path, settings: dict[str, Any]
) -> None:
    catalog = Catalog(_records(300))
    catalog.generation_now = "run-1"
    connector = _connector(tmp_path / "kept", settings)
    connector.publish(catalog)

    def check() -> dict[str, int]:
        counts = connector.publish(catalog)
        expected = _full_write(tmp_path / f"full-{catalog.generation_now}", settings, catalog)
        assert connector.path.read_bytes() == expected
        assert catalog.hashes_asked == 0
        return counts

    records = catalog.records
    catalog.commit(
        "run-2",
        {
            "K-0007": {**records["K-0007"], "price": 99.5},
            "K-0100": {**records["K-0100"], "g:colour": "red ☃"},  # a new field
            "K-9999": {"sku": "K-9999", "title": "late", "extra": [1, 2]},
        },
        ["K-0200"],
    )
    counts = check()
    assert sorted(catalog.read) == ["K-0007", "K-0100", "K-9999"]
    assert counts["rendered"] == 3 and counts["written"] == 300
    catalog.commit("run-3", {}, ["K-0100"])  # the only record with `g:colour`: the column goes
    assert check()["written"] == 299 and catalog.read == []
    catalog.commit("run-3", {}, [])  # a run whose commit changed nothing
    assert check()["rendered"] == 0 and catalog.read == []


def test_a_publication_killed_before_its_store_was_kept_makes_the_next_one_compare_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = Catalog(_records(50))
    catalog.generation_now = "run-1"
    connector = _connector(tmp_path, {})
    connector.publish(catalog)
    catalog.commit("run-2", {"K-0004": {**catalog.records["K-0004"], "title": "new"}}, ["K-0005"])

    _killed_before_keeping_its_store(connector, catalog, monkeypatch)
    # the store is still at run-1: the changes of run-2 are found by their hashes
    catalog.commit("run-3", {"K-0010": {**catalog.records["K-0010"], "stock": 0}}, [])
    counts = connector.publish(catalog)
    assert catalog.hashes_asked == 1 and sorted(catalog.read) == ["K-0004", "K-0010"]
    assert counts["rendered"] == 2
    assert connector.path.read_bytes() == _full_write(tmp_path / "full", {}, catalog)
    catalog.commit("run-4", {"K-0011": {**catalog.records["K-0011"], "stock": 0}}, [])
    connector.publish(catalog)
    assert catalog.hashes_asked == 0 and catalog.read == ["K-0011"]


def test_a_store_published_without_a_known_generation_compares_hashes(tmp_path: Path) -> None:
    catalog = Catalog(_records(50))  # e.g. a project from before generations
    connector = _connector(tmp_path, {})
    connector.publish(catalog)
    catalog.commit("run-1", {"K-0001": {**catalog.records["K-0001"], "stock": 0}}, [])
    assert catalog.committed is not None and catalog.committed.before is None
    catalog.records["K-0002"] = {**catalog.records["K-0002"], "stock": 0}  # not in the delta
    connector.publish(catalog)
    assert catalog.hashes_asked == 1 and sorted(catalog.read) == ["K-0001", "K-0002"]
    assert connector.path.read_bytes() == _full_write(tmp_path / "full", {}, catalog)


def test_a_commit_that_changed_most_of_the_catalog_renders_it_all_in_key_order(
    tmp_path: Path,
) -> None:
    catalog = Catalog(_records(1500))
    catalog.generation_now = "run-1"
    connector = _connector(tmp_path, {})
    connector.publish(catalog)
    changed = {key: {**data, "stock": -1} for key, data in list(catalog.records.items())[:1200]}
    catalog.commit("run-2", changed, [])
    assert connector.publish(catalog)["rendered"] == 1500
    assert catalog.read == sorted(catalog.records) and catalog.hashes_asked == 0
    assert connector.path.read_bytes() == _full_write(tmp_path / "full", {}, catalog)


def test_the_store_keeps_its_generation_only_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.sqlite"
    with RenderedRows(path, "settings-1") as rows:
        assert rows.generation() is None
        rows.set_generation("run-1")
        rows.commit()
        rows.set_generation("run-2")  # a publication cut short: not kept
    with RenderedRows(path, "settings-1") as rows:
        assert rows.generation() == "run-1"
        rows.clear()
        assert rows.generation() is None
        rows.commit()
        rows.set_generation("run-3")
        rows.commit()
    with RenderedRows(path, "settings-2") as rows:
        assert rows.generation() is None


def test_a_file_without_changes_keeps_its_bytes_and_date(tmp_path: Path) -> None:
    catalog = Catalog(_records(20))
    connector = _connector(tmp_path, {})
    connector.publish(catalog)
    before = connector.path.stat()
    catalog.read.clear()
    again = connector.publish(catalog)
    assert again["file_replaced"] == 0 and again["rendered"] == 0 and catalog.read == []
    assert connector.path.stat().st_mtime_ns == before.st_mtime_ns


def test_new_settings_render_every_record_again(tmp_path: Path) -> None:
    catalog = Catalog(_records(20))
    _connector(tmp_path, {}).publish(catalog)
    counts = _connector(tmp_path, {"delimiter": ";"}).publish(catalog)
    assert counts["rendered"] == 20
    assert _connector(tmp_path, {}).path.read_text().startswith("sku;title;price;stock")


def test_unknown_hashes_render_the_whole_catalog(tmp_path: Path) -> None:
    catalog = Catalog(_records(20))
    connector = _connector(tmp_path, {})
    connector.publish(catalog)
    catalog.hashes_known = False  # e.g. a commit cut short: the index may be stale
    catalog.read.clear()
    assert connector.publish(catalog)["rendered"] == 20 and len(catalog.read) == 20


def test_a_publication_that_fails_reading_keeps_the_file_and_the_next_one_is_right(
    tmp_path: Path,
) -> None:
    catalog = Catalog(_records(50))
    connector = _connector(tmp_path, {})
    connector.publish(catalog)
    before = connector.path.read_bytes()
    catalog.records["K-0003"] = {**catalog.records["K-0003"], "price": 1000}
    views = catalog.views

    def failing(keys: Sequence[str] | None = None) -> Iterator[tuple[str, int, Any]]:
        yield from views(keys)
        raise RuntimeError("the database went away")

    catalog.views = failing  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        connector.publish(catalog)
    assert connector.path.read_bytes() == before
    catalog.views = views  # type: ignore[method-assign]
    assert connector.publish(catalog)["rendered"] == 1
    assert connector.path.read_bytes() == _full_write(tmp_path / "full", {}, catalog)


def test_a_crash_after_the_file_was_replaced_but_before_the_store_was_kept_is_harmless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = Catalog(_records(50))
    connector = _connector(tmp_path, {})
    connector.publish(catalog)
    catalog.records["K-0004"] = {**catalog.records["K-0004"], "title": "changed"}
    del catalog.records["K-0005"]

    _killed_before_keeping_its_store(connector, catalog, monkeypatch)
    expected = _full_write(tmp_path / "full", {}, catalog)
    assert connector.path.read_bytes() == expected  # the new file was already in place
    counts = connector.publish(catalog)
    assert counts["rendered"] == 1 and connector.path.read_bytes() == expected


def test_a_damaged_store_is_rebuilt(tmp_path: Path) -> None:
    catalog = Catalog(_records(10))
    connector = _connector(tmp_path, {})
    connector.publish(catalog)
    rows_path(connector.path).write_bytes(b"not a database at all" * 100)
    assert connector.publish(catalog)["rendered"] == 10
    assert connector.path.read_bytes() == _full_write(tmp_path / "full", {}, catalog)


def test_a_gzip_publication_decompresses_to_the_catalog(tmp_path: Path) -> None:
    catalog = Catalog(_records(3))
    connector = _connector(tmp_path, {"gzip": True, "filename": "export.csv.gz"})
    connector.publish(catalog)
    assert gzip.decompress(connector.path.read_bytes()).decode().splitlines()[0] == (
        "sku,title,price,stock"
    )


def test_bad_settings_are_still_refused_before_anything_is_published() -> None:
    with pytest.raises(ValidationError):
        FileSettings().load({"format": "xml", "encoding": "cp1252"})


def test_a_record_a_commit_changed_but_the_catalog_no_longer_holds_leaves_the_file(
    tmp_path: Path,
) -> None:
    settings: dict[str, Any] = {"format": "csv"}
    catalog = Catalog(_records(20))
    catalog.generation_now = "run-1"
    connector = _connector(tmp_path / "kept", settings)
    connector.publish(catalog)
    catalog.commit("run-2", {"K-0003": {**catalog.records["K-0003"], "price": 1.5}}, [])
    del catalog.records["K-0003"]  # gone by the time the channel publishes
    connector.publish(catalog)
    assert connector.path.read_bytes() == _full_write(tmp_path / "full", settings, catalog)
    assert b"K-0003" not in connector.path.read_bytes()


def _killed_before_keeping_its_store(
    connector: FileConnector, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publish, the process dying once the file is in place but before the store is kept."""

    def crash(self: RenderedRows) -> None:
        raise SystemExit("killed")

    with monkeypatch.context() as patched:
        patched.setattr(RenderedRows, "commit", crash)
        with pytest.raises(SystemExit):
            connector.publish(catalog)


@pytest.mark.parametrize("kinds_by_index", [100, 1])
def test_the_header_gathers_every_kind_of_row_in_key_order_whichever_way_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kinds_by_index: int
) -> None:
    from plugins.writers import rendered

    monkeypatch.setattr(rendered, "KINDS_BY_INDEX", kinds_by_index)
    records = _records(30)
    records["K-0002"] = {**records["K-0002"], "z-late": "1"}
    records["K-0001"] = {"sku": "K-0001", "a-early": "2"}
    records["K-0009"] = {"sku": "K-0009", "held": "3"}
    catalog = Catalog(records)
    catalog.held_back = {"K-0009"}
    connector = _connector(tmp_path / "kept", {})
    connector.publish(catalog)
    written = connector.path.read_bytes()
    assert written == _full_write(tmp_path / "full", {}, catalog)
    # K-0000 brings the common fields, K-0001 `a-early`, K-0002 `z-late`; K-0009 is held back
    assert written.split(b"\r\n")[0] == b"sku,title,price,stock,a-early,z-late"
