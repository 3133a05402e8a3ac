"""Record values shaped as Amazon's listing attributes (the JSON of the Product Type
Definitions): every attribute is a list of entries, most of them per marketplace.

- `fulfillment_availability`: `[{"fulfillment_channel_code": "DEFAULT", "quantity": 3}]`;
- `purchasable_offer`: `[{"currency", "our_price": [{"schedule": [{"value_with_tax"}]}],
  "marketplace_id"}]`;
- texts Amazon keeps per language (item_name, bullet_point, …): `[{"value", "language_tag",
  "marketplace_id"}]`, one entry per list item;
- anything else: `[{"value", "marketplace_id"}]`.

A value already in Amazon's shape (a list of objects, or one object) is sent as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

_DECIMAL_COMMA = re.compile(r"-?\d+,\d{1,2}")
AVAILABILITY = "fulfillment_availability"
OFFER = "purchasable_offer"
LOCALIZED = frozenset(
    {
        "item_name",
        "product_description",
        "bullet_point",
        "brand",
        "manufacturer",
        "generic_keyword",
        "model_name",
        "color",
        "size",
        "material",
        "style",
        "pattern",
        "item_type_name",
        "special_feature",
        "included_components",
        "target_audience_keyword",
    }
)


class Unexpressible(ValueError):
    """A record whose value cannot become a listing attribute; the message names the field."""


@dataclass(frozen=True)
class Shaping:
    marketplace_ids: tuple[str, ...]
    currency: str
    language_tag: str
    fulfillment_channel_code: str


def attributes_of(
    record: Mapping[str, Any],
    mapping: Mapping[str, str],
    required: frozenset[str],
    shaping: Shaping,
) -> dict[str, list[dict[str, Any]]]:
    """The listing attributes of `record`; raises `Unexpressible` for a required field that
    is missing or a value that cannot be shaped."""
    attributes: dict[str, list[dict[str, Any]]] = {}
    for field_name, attribute in mapping.items():
        value = record.get(field_name)
        if _is_empty(value):
            if field_name in required:
                raise Unexpressible(
                    f"the record has no {field_name!r}, which {attribute} needs (required_fields)"
                )
            continue
        attributes[attribute] = shape(attribute, field_name, value, shaping)
    return attributes


def shape(attribute: str, field_name: str, value: Any, shaping: Shaping) -> list[dict[str, Any]]:
    if isinstance(value, Mapping):
        return [dict(value)]
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        return [dict(v) for v in value]
    if attribute == AVAILABILITY:
        return availability(quantity(field_name, value), shaping)
    if attribute == OFFER:
        amount = price(field_name, value)
        return [
            {
                "currency": shaping.currency,
                "our_price": [{"schedule": [{"value_with_tax": amount}]}],
                "marketplace_id": marketplace,
            }
            for marketplace in shaping.marketplace_ids
        ]
    values = [v for v in (value if isinstance(value, list) else [value]) if not _is_empty(v)]
    for v in values:
        if not isinstance(v, str | int | float | bool):
            raise Unexpressible(f"{field_name!r} holds a {type(v).__name__}, not a value")
    localized = {"language_tag": shaping.language_tag} if attribute in LOCALIZED else {}
    return [
        {"value": v.strip() if isinstance(v, str) else v, **localized, "marketplace_id": m}
        for m in shaping.marketplace_ids
        for v in values
    ]


def availability(amount: int, shaping: Shaping) -> list[dict[str, Any]]:
    return [{"fulfillment_channel_code": shaping.fulfillment_channel_code, "quantity": amount}]


def quantity(field_name: str, value: Any) -> int:
    """A stock level as Amazon's whole quantity; below zero (oversold) is 0."""
    number = _number(field_name, value, "a quantity")
    if number != number.to_integral_value():
        raise Unexpressible(f"{field_name!r} is {value!r}, not a whole quantity")
    return max(0, int(number))


def price(field_name: str, value: Any) -> float:
    number = _number(field_name, value, "a price")
    if number < 0:
        raise Unexpressible(f"{field_name!r} is {value!r}, a negative price")
    return float(number)


def _number(field_name: str, value: Any, what: str) -> Decimal:
    if isinstance(value, bool):
        raise Unexpressible(f"{field_name!r} is {value!r}, not {what}")
    text = str(value).strip()
    if _DECIMAL_COMMA.fullmatch(text):
        text = text.replace(",", ".")  # 19,90; but 1,234 could be a thousand: refused
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise Unexpressible(f"{field_name!r} is {value!r}, not {what}") from None
    if not number.is_finite():
        raise Unexpressible(f"{field_name!r} is {value!r}, not {what}")
    return number


def _is_empty(value: Any) -> bool:
    return value is None or value == [] or (isinstance(value, str) and not value.strip())
