"""Re-importing a delimited feed through its raw index: only rows whose bytes changed are
parsed, and the outcome is what a full read gives."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.models import RunState
from core.pipeline.rawindex import index_path, raw_index_dir
from plugins.sources.formats.delimited_raw import DelimitedRaw
from tests.core.shop import Shop


def parsing(monkeypatch: pytest.MonkeyPatch, items: type) -> list[int]:
    """Where each item `items.parse` parses stands (line or item number), run after run."""
    found: list[int] = []
    original: Callable[..., Any] = items.parse

    def counting(self: Any, raw: bytes, where: int) -> Any:
        found.append(where)
        return original(self, raw, where)

    monkeypatch.setattr(items, "parse", counting)
    return found


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Line numbers of the CSV rows parsed, run after run (cleared by the test)."""
    return parsing(monkeypatch, DelimitedRaw)


def rows(catalog: dict[str, tuple[str, str]]) -> list[str]:
    return [f"{key},{title},{price}" for key, (title, price) in catalog.items()]


def stored(shop: Shop) -> dict[str, dict[str, str]]:
    return {doc["key"]: doc["data"] for doc in shop.store.records.find({})}


def as_records(catalog: dict[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    return {k: {"sku": k, "title": t, "price": p} for k, (t, p) in catalog.items()}


def test_a_second_import_parses_only_the_rows_whose_bytes_changed(
    shop: Shop, parsed: list[int]
) -> None:
    catalog = {f"K{n:03d}": (f"title {n}", f"{n}.00") for n in range(50)}
    shop.write_feed(rows(catalog))
    assert shop.run()["state"] == RunState.SUCCEEDED
    assert len(parsed) == 50
    parsed.clear()
    for key in ("K003", "K010", "K040"):
        catalog[key] = (catalog[key][0], "99.99")
    del catalog["K020"]
    catalog["K100"] = ("new", "1.00")
    shop.write_feed(rows(catalog))
    run = shop.run()
    assert run["state"] == RunState.SUCCEEDED, run["error"]
    assert sorted(parsed) == [5, 12, 41, 51]  # the rows of K003, K010, K040 and K100
    assert shop.stage(run, "import") == {
        "read": 50,
        "inserted": 1,
        "updated": 3,
        "unchanged": 46,
        "deleted": 1,
    }
    assert stored(shop) == as_records(catalog)
    assert shop.exported() == sorted(as_records(catalog).values(), key=lambda r: r["sku"])
    assert {k for k, c in shop.changes(shop.file).items() if c["op"] == "update"} >= {"K003"}


def test_an_identical_feed_parses_nothing_and_writes_nothing(shop: Shop, parsed: list[int]) -> None:
    shop.write_feed(rows({f"K{n}": ("t", "1") for n in range(20)}))
    shop.run()
    parsed.clear()
    run = shop.run()
    assert parsed == []
    assert shop.stage(run, "import")["unchanged"] == 20
    assert shop.stage(run, "database")["records_written"] == 0


def test_rows_quoted_otherwise_with_the_same_content_are_unchanged(
    shop: Shop, parsed: list[int]
) -> None:
    shop.write_feed(["A,one,1.00", "B,two,2.00"])
    shop.run()
    parsed.clear()
    shop.write_feed(['"A","one","1.00"', "B,two,2.00"])
    run = shop.run()
    assert parsed == [2]
    assert shop.stage(run, "import")["unchanged"] == 2
    assert shop.stage(run, "database")["records_written"] == 0
    parsed.clear()
    shop.write_feed(['"A","one","1.00"', "B,two,2.00"])
    shop.run()
    assert parsed == []  # the new quoting is what the raw index knows now


@pytest.mark.parametrize(
    "feed",
    [
        ["A,one,1.00", "B,two,2.00", "A,one,1.00"],  # a known row twice
        ["A,one,1.00", "B,two,2.00", "A,changed,1.00"],  # known, then changed
        ["A,changed,1.00", "B,two,2.00", "A,one,1.00"],  # changed, then known
        ["A,one,1.00", "B,two,2.00", "C,x,1", "C,y,2"],  # a new key twice
    ],
)
def test_a_key_read_twice_fails_the_run_and_changes_nothing(shop: Shop, feed: list[str]) -> None:
    shop.write_feed(["A,one,1.00", "B,two,2.00"])
    shop.run()
    before = stored(shop)
    shop.write_feed(feed)
    failed = shop.run()
    assert failed["state"] == RunState.FAILED
    assert "duplicate key" in failed["error"]["message"]
    assert stored(shop) == before
    shop.write_feed(["A,one,1.00", "B,two,2.00", "D,new,4"])
    again = shop.run()
    assert again["state"] == RunState.SUCCEEDED, again["error"]
    assert shop.stage(again, "import")["inserted"] == 1


def test_a_raw_index_of_another_generation_or_damaged_is_not_used(
    shop: Shop, parsed: list[int]
) -> None:
    shop.write_feed(["A,one,1.00", "B,two,2.00"])
    shop.run()
    path = index_path(
        raw_index_dir(shop.settings.data_dir, shop.project["_id"]), shop.source["_id"]
    )
    assert path.exists()
    # Something else moved the records on (e.g. a run that read the feed in full).
    shop.store.records.update_one(
        {"key": "B"}, {"$set": {"data.title": "edited", "hash": "0" * 16}}
    )
    shop.store.projects.update_one(
        {"_id": shop.project["_id"]}, {"$set": {"index_generation": "elsewhere"}}
    )
    parsed.clear()
    shop.run()
    assert len(parsed) == 2  # read in full
    path.write_bytes(path.read_bytes()[:40])  # damaged
    parsed.clear()
    run = shop.run()
    assert run["state"] == RunState.SUCCEEDED, run["error"]
    assert len(parsed) == 2
    parsed.clear()
    shop.run()
    assert parsed == []


def test_a_commit_cut_short_is_completed_by_a_full_read(shop: Shop, parsed: list[int]) -> None:
    shop.write_feed(["A,one,1.00", "B,two,2.00"])
    shop.run()
    shop.store.projects.update_one(
        {"_id": shop.project["_id"]}, {"$set": {"commit_run_id": "run_crashed"}}
    )
    shop.store.records.delete_one({"key": "B"})
    parsed.clear()
    run = shop.run()
    assert run["state"] == RunState.SUCCEEDED, run["error"]
    assert stored(shop) == as_records({"A": ("one", "1.00"), "B": ("two", "2.00")})


@pytest.mark.parametrize("seed", range(8))
def test_runs_of_a_changing_feed_keep_the_database_equal_to_the_feed(shop: Shop, seed: int) -> None:
    rng = random.Random(seed)
    catalog = {f"K{n:03d}": (f"t{n}", "1") for n in range(40)}
    for _ in range(6):
        for _ in range(rng.randint(0, 6)):
            action = rng.choice(["update", "insert", "delete", "requote"])
            key = rng.choice(sorted(catalog))
            if action == "update":
                catalog[key] = (catalog[key][0], str(rng.randint(1, 9)))
            elif action == "insert":
                catalog[f"N{rng.randint(0, 999):03d}"] = ("new", "2")
            elif action == "delete" and len(catalog) > 30:
                del catalog[key]
        lines = rows(catalog)
        rng.shuffle(lines)
        lines = [f'"{line}"'.replace(",", '","') if rng.random() < 0.2 else line for line in lines]
        shop.write_feed(lines)
        run = shop.run()
        assert run["state"] == RunState.SUCCEEDED, run["error"]
        assert stored(shop) == as_records(catalog)


def test_raw_indexes_live_in_the_data_folder(shop: Shop) -> None:
    shop.run()
    folder = raw_index_dir(shop.settings.data_dir, shop.project["_id"])
    assert [p.name for p in folder.iterdir()] == [f"{shop.source['_id']}.raw"]


def test_an_xml_feed_is_reimported_parsing_only_the_items_that_changed(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from plugins.sources.formats.xml_raw import XmlRawItems

    items = parsing(monkeypatch, XmlRawItems)
    feed = tmp_path / "feed.xml"
    shop.store.connections.delete_one({"_id": shop.source["_id"]})
    shop.source = shop.connect(
        {"connector": "feed", "role": "source", "settings": {"url": str(feed), "format": "xml"}}
    )

    def write(catalog: dict[str, str]) -> None:
        body = "".join(
            f"<item><sku>{k}</sku><g:price>{p}</g:price></item>\n" for k, p in catalog.items()
        )
        feed.write_text(
            '<?xml version="1.0"?><rss xmlns:g="http://base.google.com/ns/1.0"><channel>'
            f"<title>Shop</title>\n{body}</channel></rss>\n"
        )

    catalog = {f"K{n}": f"{n}.00" for n in range(10)}
    write(catalog)
    assert shop.run()["state"] == RunState.SUCCEEDED
    items.clear()
    catalog["K4"] = "99.00"
    del catalog["K7"]
    write(catalog)
    run = shop.run()
    assert run["state"] == RunState.SUCCEEDED, run["error"]
    assert items == [5]
    counts = shop.stage(run, "import")
    assert (counts["updated"], counts["deleted"], counts["unchanged"]) == (1, 1, 8)
    assert stored(shop)["K4"] == {"sku": "K4", "g:price": "99.00"}


def test_reset_clocks_parses_every_row_again(shop: Shop, parsed: list[int]) -> None:
    from core.connections import reset_clocks

    shop.write_feed(["A,one,1.00", "B,two,2.00"])
    shop.run()
    reset_clocks(shop.store, shop.project, shop.source["_id"])
    parsed.clear()
    shop.run()
    assert sorted(parsed) == [2, 3]
    parsed.clear()
    shop.run()
    assert parsed == []
