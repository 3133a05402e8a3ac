"""The shop's catalog as records: one per product or variation that has a SKU, keyed by it.

Products without a SKU are left out: nothing else identifies them across systems. A variation
carries its parent's name, categories and link, and its own attributes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from plugins.base import Record
from plugins.shop.api import ShopApi


def read_catalog(api: ShopApi, *, variations: bool) -> Iterator[Record]:
    for page in api.products():
        for product in page:
            record = product_record(product)
            if record is not None:
                yield record
            if variations and product.get("type") == "variable":
                for variants in api.variations(int(product["id"])):
                    for variant in variants:
                        record = product_record(variant, parent=product)
                        if record is not None:
                            yield record


def product_record(product: dict[str, Any], parent: dict[str, Any] | None = None) -> Record | None:
    sku = str(product.get("sku") or "").strip()
    if not sku:
        return None
    attributes = {
        str(a.get("name")): a.get("option")
        for a in product.get("attributes") or []
        if isinstance(a, dict) and "option" in a
    }
    name = product.get("name") or ""
    if parent is not None:
        name = " - ".join([str(parent.get("name") or ""), *map(str, attributes.values())])
    source = parent or product
    return {
        "sku": sku,
        "id": product.get("id"),
        "parent_id": parent.get("id") if parent is not None else None,
        "type": "variation" if parent is not None else product.get("type"),
        "status": product.get("status"),
        "title": name,
        "description": product.get("description") or source.get("description"),
        "price": product.get("price"),
        "regular_price": product.get("regular_price"),
        "sale_price": product.get("sale_price"),
        "stock": product.get("stock_quantity"),
        "stock_status": product.get("stock_status"),
        "manage_stock": product.get("manage_stock"),
        "link": product.get("permalink") or source.get("permalink"),
        "image_link": _image(product) or _image(source),
        "categories": [c.get("name") for c in source.get("categories") or [] if c.get("name")],
        "attributes": attributes,
    }


def _image(product: dict[str, Any]) -> str | None:
    images = product.get("images") or ([product["image"]] if product.get("image") else [])
    first = images[0] if images and isinstance(images[0], dict) else {}
    src = first.get("src")
    return str(src) if src else None
