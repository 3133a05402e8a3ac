"""The project settings the record sets read, with their defaults.

- `stock_field` ("stock"), `price_field` ("price"): the record fields holding stock and price.
- `low_stock_threshold` (5): `low-stock` is a stock above 0 and at most this.
- `low_price_threshold` (1): `low-price` is a price above 0 and below this.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

RECORD_SET_DEFAULTS: dict[str, Any] = {
    "stock_field": "stock",
    "price_field": "price",
    "low_stock_threshold": 5,
    "low_price_threshold": "1",
}


def setting(project: dict[str, Any], name: str) -> Any:
    value = project.get(name)
    return RECORD_SET_DEFAULTS[name] if value is None else value


def threshold(project: dict[str, Any], name: str) -> Decimal:
    return Decimal(str(setting(project, name)))
