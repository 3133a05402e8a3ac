"""The `file` channel's publication from kept renderings: after any sequence of inserts,
updates, deletes, rule and approval changes it writes the very bytes a full write would, while
reading from the catalog only the records that changed; a publication cut short anywhere
leaves a store the next one still gets right."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError

from core.pipeline.hashing import content_hash
from plugins.base import ConnectorContext, Record
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

    def hashes(self) -> dict[str, int] | None:
        if not self.hashes_known:
            return None
        return {key: int(content_hash(data), 16) for key, data in self.records.items()}

    def views(self, keys: Sequence[str] | None = None) -> Iterator[tuple[str, int, Any]]:
        for key in sorted(self.records) if keys is None else keys:
            self.read.append(key)
            data = self.records[key]
            yield key, int(content_hash(data), 16), data if self.keep(data) else None


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

    def crash(self: RenderedRows) -> None:
        raise SystemExit("killed")

    with monkeypatch.context() as patched:
        patched.setattr(RenderedRows, "commit", crash)
        with pytest.raises(SystemExit):
            connector.publish(catalog)
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
