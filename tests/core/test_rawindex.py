"""The raw index file: what is written is what is loaded, and only under its fingerprint and
generation."""

from __future__ import annotations

from array import array
from pathlib import Path

import pytest

from core.pipeline import rawindex


def test_entries_added_one_by_one_and_carried_over_load_back_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rawindex, "BUFFERED", 3)  # so entries go to disk in several writes
    path = tmp_path / "c.raw"
    writer = rawindex.RawIndexWriter(path, "fp")
    for n in range(5):
        writer.add(n, f"K{n}", 100 + n)
    writer.extend(array("Q", [7, 8]), array("Q", [107, 108]), [b"K7", b"K8"])
    writer.add(9, "K\u00e9", 2**64 - 1)
    writer.install("gen_1")
    loaded = rawindex.load(path, "fp", "gen_1")
    assert loaded is not None
    assert list(loaded.raws) == [0, 1, 2, 3, 4, 7, 8, 9]
    assert list(loaded.hashes) == [100, 101, 102, 103, 104, 107, 108, 2**64 - 1]
    assert [k.decode() for k in loaded.keys] == [
        "K0",
        "K1",
        "K2",
        "K3",
        "K4",
        "K7",
        "K8",
        "K\u00e9",
    ]


def test_a_raw_index_is_loaded_only_under_its_fingerprint_and_generation(tmp_path: Path) -> None:
    path = tmp_path / "c.raw"
    writer = rawindex.RawIndexWriter(path, "fp")
    writer.add(1, "A", 2)
    writer.install("gen_1")
    assert rawindex.load(path, "fp", "gen_1") is not None
    assert rawindex.load(path, "other", "gen_1") is None
    assert rawindex.load(path, "fp", "gen_2") is None
    assert rawindex.load(path, "fp", None) is None
    path.write_bytes(path.read_bytes()[:-1])  # cut short
    assert rawindex.load(path, "fp", "gen_1") is None


def test_a_key_with_a_line_break_gives_up_the_raw_index(tmp_path: Path) -> None:
    path = tmp_path / "c.raw"
    path.write_bytes(b"old")
    writer = rawindex.RawIndexWriter(path, "fp")
    writer.add(1, "two\nlines", 2)
    writer.install("gen_1")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []
