"""Google Merchant Center feeds: RSS 2.0 `item` or Atom `entry` elements with `g:` fields.

Each item becomes one product record with the normalized fields of `FIELDS` (None when the
item lacks them), then every other field of the item: `g:` fields under their local name (a
repeated one as a list, `g:shipping` as a nested dict), other elements as in plain XML.

- `sku` comes from `g:id`, else the RSS `guid`, else the Atom `id`;
- `price` is the number of `g:price` as a string ("12.00 USD" gives "12.00") and `currency`
  its currency, else `g:currency`;
- `gtin` comes from `g:gtin`, else the older `g:ean`, `g:upc`, `g:isbn` or `g:jan`;
- `mpn` from `g:mpn`, else Google Base's `g:manufacturer_id`;
- `description` from `description`, `g:description`, Atom `summary` or `content`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from plugins.base import Record
from plugins.sources.formats.options import ReadOptions
from plugins.sources.formats.xml_items import (
    add_value,
    element_value,
    iter_items,
    names,
    namespace,
)
from plugins.sources.stream import FeedStream

GOOGLE_NAMESPACE = "http://base.google.com/ns/1.0"
FIELDS = (
    "sku",
    "title",
    "description",
    "link",
    "image_link",
    "price",
    "currency",
    "availability",
    "brand",
    "gtin",
    "mpn",
    "condition",
    "product_type",
    "google_product_category",
)
#: item fields that only feed a normalized field, and are not kept besides it
_CONSUMED = frozenset({"id", "title", "description", "link", "price", "currency"})
_MONEY = re.compile(r"^(?:([A-Z]{3})\s*)?(\d[\d.,]*)\s*(?:([A-Z]{3}))?$")


def read_google(stream: FeedStream, options: ReadOptions) -> Iterator[Record]:
    for _, element in iter_items(stream, options.item_path, options.encoding):
        yield product_record(element)


def product_record(element: Any) -> Record:
    google: Record = {}
    other: Record = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if namespace(child) == GOOGLE_NAMESPACE:
            add_value(google, names(child)[1], element_value(child, _google_name))
        else:
            add_value(other, names(child)[0], element_value(child, _google_name))
    price, currency = split_price(_text(google.get("price")), _text(google.get("currency")))
    record: Record = {
        "sku": _first(google.get("id"), other.get("guid"), other.get("id")),
        "title": _first(other.get("title"), google.get("title")),
        "description": _first(
            other.get("description"),
            google.get("description"),
            other.get("summary"),
            other.get("content"),
        ),
        "link": _first(other.get("link"), google.get("link")),
        "image_link": _first(google.get("image_link")),
        "price": price,
        "currency": currency,
        "availability": _first(google.get("availability")),
        "brand": _first(google.get("brand")),
        "gtin": _first(*(google.get(n) for n in ("gtin", "ean", "upc", "isbn", "jan"))),
        "mpn": _first(google.get("mpn"), google.get("manufacturer_id")),
        "condition": _first(google.get("condition")),
        "product_type": _first(google.get("product_type")),
        "google_product_category": _first(google.get("google_product_category")),
    }
    for name, value in google.items():
        if name not in _CONSUMED:
            record.setdefault(name, value)
    for name, value in other.items():
        if name not in _CONSUMED:
            record.setdefault(name, value)
    return record


def split_price(raw: str | None, currency: str | None) -> tuple[str | None, str | None]:
    """("12.00", "USD") from "12.00 USD" or "USD 12.00"; `currency` when the price has none;
    a price that is not a number stays as it is."""
    if raw is None:
        return None, currency
    found = _MONEY.match(raw.strip())
    if not found:
        return raw, currency
    return found.group(2), found.group(1) or found.group(3) or currency


def _google_name(element: Any) -> str:
    prefixed, local = names(element)
    return local if namespace(element) == GOOGLE_NAMESPACE else prefixed


def _first(*values: Any) -> str | None:
    for value in values:
        text = _text(value)
        if text:
            return text
    return None


def _text(value: Any) -> str | None:
    """The text of a field: a leaf's string, a nested element's text or `@href` (Atom links),
    a repeated field's first."""
    if isinstance(value, list):
        return _text(value[0]) if value else None
    if isinstance(value, dict):
        return _text(value.get("#text") or value.get("@href"))
    return value if isinstance(value, str) else None
