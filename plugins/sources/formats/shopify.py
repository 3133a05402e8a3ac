"""Shopify Admin API products (REST JSON): one record per variant, keyed by the variant's SKU.

The feed is one product object, `{"product": {…}}` or `{"products": […]}`, streamed product by
product. A record holds the product's fields (`product_id`, `title`, `brand` from the vendor,
`product_type`, `handle`, `tags`, `body_html`, `status`, `published_at`, `image_link`) and the
variant's (`sku`, `variant_id`, `variant_title`, `price` and `compare_at_price` as strings,
`inventory_quantity`, `barcode`, `option1`…`option3`, `options` by the product's option names,
`weight`, `weight_unit`, `grams`, …).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from core.errors import ConnectorError
from plugins.base import Record
from plugins.sources.formats.json_items import head_events, json_items, utf8_json
from plugins.sources.formats.options import ReadOptions
from plugins.sources.stream import FeedStream

PRODUCT_FIELDS = ("title", "product_type", "handle", "tags", "body_html", "status")
VARIANT_FIELDS = (
    "sku",
    "inventory_quantity",
    "inventory_policy",
    "inventory_management",
    "barcode",
    "option1",
    "option2",
    "option3",
    "weight",
    "weight_unit",
    "grams",
    "requires_shipping",
    "taxable",
    "fulfillment_service",
    "position",
)


def read_shopify(stream: FeedStream, options: ReadOptions) -> Iterator[Record]:
    source, head, _ = utf8_json(stream, options.encoding)
    if not head.lstrip().startswith(b"{"):
        raise ConnectorError(
            'a Shopify feed is a JSON object: a product, {"product": …} or {"products": […]}; '
            f"this one starts with {head[:20]!r}"
        )
    prefix = _products_prefix(head)
    for number, product in enumerate(json_items(source, prefix, use_float=False), start=1):
        if not isinstance(product, dict):
            raise ConnectorError(f"product {number} of the Shopify feed is not an object")
        yield from variant_records(product)


def variant_records(product: dict[str, Any]) -> Iterator[Record]:
    option_names = [o.get("name") for o in product.get("options") or [] if isinstance(o, dict)]
    for variant in product.get("variants") or [{}]:
        if not isinstance(variant, dict):
            continue
        record: Record = {"sku": variant.get("sku"), "product_id": product.get("id")}
        record["variant_id"] = variant.get("id")
        record.update({name: _plain(product.get(name)) for name in PRODUCT_FIELDS})
        record["brand"] = product.get("vendor")
        record["variant_title"] = variant.get("title")
        record["price"] = _money(variant.get("price"))
        record["compare_at_price"] = _money(variant.get("compare_at_price"))
        record.update({name: _plain(variant.get(name)) for name in VARIANT_FIELDS})
        record["options"] = {
            name: variant.get(f"option{n}")
            for n, name in enumerate(option_names[:3], start=1)
            if name
        }
        record["image_link"] = _image(product, variant.get("image_id"))
        record["published_at"] = product.get("published_at")
        yield record


def _products_prefix(head: bytes) -> str:
    """Where the products are: `products.item`, `product`, or the whole document."""
    for prefix, event, value in head_events(head):
        if prefix == "" and event == "map_key" and value in ("products", "product"):
            return "products.item" if value == "products" else "product"
        if prefix == "" and event == "map_key" and value in ("id", "variants", "title"):
            break
    return ""


def _image(product: dict[str, Any], image_id: Any) -> str | None:
    images = [i for i in product.get("images") or [] if isinstance(i, dict)]
    chosen = next((i for i in images if image_id and i.get("id") == image_id), None)
    chosen = chosen or product.get("image") or (images[0] if images else None)
    return chosen.get("src") if isinstance(chosen, dict) else None


def _money(value: Any) -> str | None:
    """Shopify sends prices as strings; a number is written as its decimal text."""
    return None if value is None else str(value)


def _plain(value: Any) -> Any:
    """ijson's `Decimal`s (kept exact for prices) as `float`, in nested values too."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
