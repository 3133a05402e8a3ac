"""The settings of a `shop` connection: a shop speaking the WooCommerce REST API v3."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from marshmallow import ValidationError, fields, validate, validates, validates_schema

from core import netguard
from core.errors import ConnectorError
from plugins.shop.http import HttpSettings
from plugins.shop.incremental import parse_stamp
from plugins.sources.files import check_file_allowed, local_path

WOOCOMMERCE_MAX_PER_PAGE = 100


class ShopSettings(HttpSettings):
    base_url = fields.String(
        required=True,
        metadata={
            "description": "the shop's address, e.g. https://shop.example (the API is under "
            "/wp-json/wc/v3); or a directory (file:// URL or absolute path) holding saved "
            "answers of the API (products.json, orders.json…): read-only, to try a project "
            "offline"
        },
    )
    consumer_key = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"secret": True, "description": "the REST API key's consumer key (ck_…)"},
    )
    consumer_secret = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"secret": True, "description": "the REST API key's consumer secret (cs_…)"},
    )
    auth_in = fields.String(
        load_default="basic",
        validate=validate.OneOf(("basic", "query")),
        metadata={
            "description": "basic: the keys as HTTP basic auth (over https); query: as "
            "consumer_key/consumer_secret query parameters, for servers that drop the "
            "Authorization header"
        },
    )
    per_page = fields.Integer(
        load_default=WOOCOMMERCE_MAX_PER_PAGE,
        validate=validate.Range(min=1, max=WOOCOMMERCE_MAX_PER_PAGE),
        metadata={"description": "items asked for per page (WooCommerce allows up to 100)"},
    )
    variations = fields.Boolean(
        load_default=True,
        metadata={"description": "read the variations of variable products as records too"},
    )
    overlap_s = fields.Integer(
        load_default=300,
        validate=validate.Range(min=1, max=7 * 24 * 3600),
        metadata={
            "description": "seconds before the orders cursor each download starts again, to "
            "catch orders the shop stamped a moment before it published them"
        },
    )
    orders_since = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "the first download reads orders modified after this time (GMT "
            "when no zone is given); default: every order"
        },
    )
    status_after_shipment = fields.String(
        load_default="completed",
        allow_none=True,
        metadata={
            "description": "the order status set when its shipment is uploaded; null to "
            "leave the status alone and add only the tracking"
        },
    )
    stock_field = fields.String(
        load_default="stock",
        metadata={"description": "the record field holding the quantity to upload"},
    )
    price_field = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "a record field to upload as the regular price; default: none"},
    )

    @validates("base_url")
    def _check_base_url(self, value: str, **_: Any) -> None:
        if is_snapshot(value):
            check_file_allowed(local_path(value))
        elif urlparse(value).scheme not in ("http", "https") or not urlparse(value).netloc:
            raise ValidationError("must be an http(s) URL, a file:// URL or an absolute path")
        else:
            netguard.validate_public_url(value)

    @validates("orders_since")
    def _check_orders_since(self, value: str | None, **_: Any) -> None:
        if value is not None:
            try:
                parse_stamp(value)
            except ConnectorError:
                raise ValidationError("must be an ISO 8601 date and time") from None

    @validates_schema
    def _check_keys(self, data: dict[str, Any], **_: Any) -> None:
        if is_snapshot(data.get("base_url", "")):
            return
        missing = [k for k in ("consumer_key", "consumer_secret") if not data.get(k)]
        if missing:
            raise ValidationError({k: ["required to call the shop's REST API"] for k in missing})


def is_snapshot(base_url: str) -> bool:
    return base_url.startswith("file://") or base_url.startswith("/")
