"""Synthetic product feeds for the ingest benchmark, and bare parsing of them.

A catalog is a pure function of (records, version): version 0 is the first import; each later
version raises the price of 2 % of the records, spread evenly across the file (every 50th
record, a different residue per version), so two consecutive versions differ in exactly
`changed_between(records, version)` records and in nothing else. The same catalog is written
as CSV and as RSS-like XML, so both formats carry identical records.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

FIELDS = ("sku", "title", "brand", "price", "stock", "description")
#: every `CHANGE_STRIDE`-th record changes between two versions: 2 %
CHANGE_STRIDE = 50
SEED = 27017

_VOCABULARY = (
    "cotton organic slim fit regular classic vintage premium soft stretch breathable "
    "waterproof lightweight durable recycled merino wool linen denim leather canvas "
    "shirt t-shirt hoodie jacket parka trousers chinos jeans shorts skirt dress sweater "
    "cardigan sneaker boot sandal loafer backpack wallet belt scarf beanie cap socks "
    "black white navy grey charcoal olive khaki burgundy beige ivory red blue green "
    "women men kids unisex small medium large xl xxl pack of two three bundle edition "
    "with zip pocket hood collar buttons drawstring lined quilted padded insulated "
    "machine washable hand wash made in portugal italy vietnam for everyday wear travel "
    "outdoor hiking running training office evening summer winter spring autumn"
)
_WORDS = _VOCABULARY.split()
_BRANDS = (
    "Northwind",
    "Acme Apparel",
    "Smith & Sons",
    "Fjällräven-ish",
    "Blue Harbor",
    "Urban Thread",
    "Kestrel",
    "Maison Lumière",
    "Oak & Ash",
    "Trailhead Co.",
    "Pinecrest",
    "Sable",
    "Atlas Goods",
    "Cobalt",
    "Wren",
    "Halden",
)


def changed_between(records: int, version: int) -> int:
    """How many records version `version` changes compared with version `version - 1`."""
    if version == 0:
        return records
    return sum(1 for i in range(records) if _bumped(i, version))


def _bumped(index: int, version: int) -> bool:
    return (index + 7 * version) % CHANGE_STRIDE == 0


def catalog(records: int, version: int) -> Iterator[tuple[str, ...]]:
    """The rows of the catalog at `version`, in FIELDS order (all text)."""
    rng = random.Random(SEED)
    choices, randint, choice = rng.choices, rng.randint, rng.choice
    for i in range(records):
        title = " ".join(choices(_WORDS, k=randint(3, 8))).capitalize()
        description = " ".join(choices(_WORDS, k=randint(18, 48))).capitalize() + "."
        if i % 9 == 0:
            description += ' Size guide: "true to size", fits, colours may vary.'
        cents = randint(199, 49_999)
        cents += 100 * sum(1 for v in range(1, version + 1) if _bumped(i, v))
        yield (
            f"SKU-{i:08d}",
            title,
            choice(_BRANDS),
            f"{cents // 100}.{cents % 100:02d}",
            str(randint(0, 500)),
            description,
        )


def write_csv(path: Path, records: int, version: int) -> int:
    """Write the catalog as CSV; returns its size in bytes."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(FIELDS)
        writer.writerows(catalog(records, version))
    return path.stat().st_size


def write_xml(path: Path, records: int, version: int) -> int:
    """Write the catalog as RSS (`<rss><channel><item><sku>…`); returns its size in bytes."""
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>\n')
        out.write("<title>Bench shop</title>\n")
        for row in catalog(records, version):
            fields = "".join(
                f"<{name}>{escape(value)}</{name}>" for name, value in zip(FIELDS, row, strict=True)
            )
            out.write(f"<item>{fields}</item>\n")
        out.write("</channel></rss>\n")
    return path.stat().st_size


WRITERS = {"csv": write_csv, "xml": write_xml}


def parse_csv(path: Path) -> int:
    """The baseline: `csv.DictReader` over the file; returns the records read."""
    count = 0
    with path.open(newline="", encoding="utf-8") as feed:
        for _ in csv.DictReader(feed):
            count += 1
    return count


def parse_xml(path: Path) -> int:
    """The baseline: `lxml.etree.iterparse` building one dict per item, clearing as it goes."""
    count = 0
    for _, item in etree.iterparse(str(path), events=("end",), tag="item"):
        record = {child.tag: child.text for child in item}
        count += bool(record)
        item.clear(keep_tail=False)
        parent = item.getparent()
        while item.getprevious() is not None:
            del parent[0]
    return count


PARSERS = {"csv": parse_csv, "xml": parse_xml}
