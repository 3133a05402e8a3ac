"""`ReadOptions`: what a format reader needs to know from the connection's settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReadOptions:
    key: str = "sku"
    #: a one-character delimiter, or None to detect it
    delimiter: str | None = None
    #: a Python codec name, or "auto"
    encoding: str = "auto"
    #: JSON: dotted path of the list of items in a top-level object, e.g. `data.products`
    items_path: str | None = None
    #: XML: name of an item's element (`item`, `g:item`) or a slash path (`/catalog/product`)
    item_path: str | None = None
