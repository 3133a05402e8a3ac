"""The settings of an `amazon` connection (one seller, one SP-API region, one currency and
language): where and as whom to send, how records become listing attributes, how fast."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from core import netguard
from plugins.amazon.attributes import AVAILABILITY

MAX_MESSAGES = 10_000  # Amazon's limit of messages in one JSON_LISTINGS_FEED document
DEFAULT_LWA_ENDPOINT = "https://api.amazon.com/auth/o2/token"
DEFAULT_STOCK_FIELD = "stock"
DEFAULT_ATTRIBUTE_MAP = {
    "title": "item_name",
    "price": "purchasable_offer",
    DEFAULT_STOCK_FIELD: AVAILABILITY,
}
#: Amazon's documented default usage plans of the Feeds API 2021-06-30 (requests per second
#: and burst); a seller granted more can raise them
DEFAULT_RATE_LIMITS: dict[str, dict[str, float]] = {
    "createFeedDocument": {"rate_per_s": 0.0083, "burst": 15},
    "createFeed": {"rate_per_s": 0.0083, "burst": 15},
    "getFeed": {"rate_per_s": 2.0, "burst": 15},
    "getFeedDocument": {"rate_per_s": 0.0222, "burst": 10},
}
_ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class RateLimit(Schema):
    rate_per_s = fields.Float(
        required=True,
        validate=validate.Range(min=0, min_inclusive=False, max=1000),
        metadata={"description": "requests per second the bucket refills"},
    )
    burst = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=10_000),
        metadata={"description": "requests allowed at once when the bucket is full"},
    )


def _limit(operation: str) -> Any:
    return fields.Nested(
        RateLimit,
        load_default=lambda: dict(DEFAULT_RATE_LIMITS[operation]),
        metadata={"description": f"{operation}: default {DEFAULT_RATE_LIMITS[operation]}"},
    )


class RateLimits(Schema):
    """One bucket per operation, named as Amazon names them."""

    createFeedDocument = _limit("createFeedDocument")
    createFeed = _limit("createFeed")
    getFeed = _limit("getFeed")
    getFeedDocument = _limit("getFeedDocument")


class AmazonSettings(Schema):
    seller_id = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "the seller's merchant token (Seller Central: Account Info)"},
    )
    marketplace_ids = fields.List(
        fields.String(validate=validate.Regexp(r"^[A-Z0-9]{5,20}$")),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": 'marketplaces to list in, e.g. ["A1PA6795UKMFR9"] (DE)'},
    )
    endpoint = fields.Url(
        required=True,
        require_tld=False,
        validate=netguard.validate_public_url,
        metadata={
            "description": "the SP-API base URL of the seller's region, e.g. "
            "https://sellingpartnerapi-eu.amazon.com"
        },
    )
    lwa_endpoint = fields.Url(
        load_default=DEFAULT_LWA_ENDPOINT,
        require_tld=False,
        validate=netguard.validate_public_url,
        metadata={"description": "Login with Amazon's token URL"},
    )
    client_id = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "the LWA client id of the SP-API app", "secret": True},
    )
    client_secret = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "the LWA client secret of the SP-API app", "secret": True},
    )
    refresh_token = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "the seller's refresh token (Atzr|…)", "secret": True},
    )
    product_type = fields.String(
        load_default="PRODUCT",
        validate=validate.Regexp(r"^[A-Z0-9_]+$"),
        metadata={"description": "Amazon product type of every listing, e.g. PRODUCT, SHOES"},
    )
    requirements = fields.String(
        load_default="LISTING",
        validate=validate.OneOf(["LISTING", "LISTING_PRODUCT_ONLY", "LISTING_OFFER_ONLY"]),
        metadata={
            "description": "what a full update provides: LISTING (product facts and offer), "
            "LISTING_OFFER_ONLY (an offer on an existing ASIN) or LISTING_PRODUCT_ONLY"
        },
    )
    attribute_map = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1)),
        values=fields.String(validate=validate.Regexp(_ATTRIBUTE_NAME)),
        load_default=None,
        allow_none=True,
        metadata={
            "description": "record field → Amazon attribute, e.g. "
            '{"title": "item_name", "price": "purchasable_offer", "stock": '
            '"fulfillment_availability"} (the default); values are shaped as Amazon expects'
        },
    )
    required_fields = fields.List(
        fields.String(validate=validate.Length(min=1)),
        load_default=None,
        allow_none=True,
        metadata={
            "description": "fields a full update cannot go without (a record lacking one "
            "fails alone); default: every field of attribute_map"
        },
    )
    stock_field = fields.String(
        load_default=DEFAULT_STOCK_FIELD,
        validate=validate.Length(min=1),
        metadata={
            "description": "the record field with the quantity; a change of it alone is sent "
            "as a small PATCH of fulfillment_availability"
        },
    )
    fulfillment_channel_code = fields.String(
        load_default="DEFAULT",
        validate=validate.Length(min=1),
        metadata={"description": "DEFAULT: fulfilled by the merchant"},
    )
    currency = fields.String(
        load_default="EUR",
        validate=validate.Regexp(r"^[A-Z]{3}$"),
        metadata={"description": "ISO 4217 currency of prices"},
    )
    language_tag = fields.String(
        load_default="en_US",
        validate=validate.Regexp(r"^[a-z]{2}_[A-Z]{2}$"),
        metadata={"description": "language of texts (item_name, …), e.g. de_DE"},
    )
    issue_locale = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[a-z]{2}_[A-Z]{2}$"),
        metadata={"description": "language of Amazon's messages; default: language_tag"},
    )
    max_messages = fields.Integer(
        load_default=MAX_MESSAGES,
        validate=validate.Range(min=1, max=MAX_MESSAGES),
        metadata={"description": "messages per feed document (Amazon allows 10,000)"},
    )
    rate_limits = fields.Nested(
        RateLimits,
        load_default=lambda: {op: dict(limit) for op, limit in DEFAULT_RATE_LIMITS.items()},
        metadata={"description": "token bucket per Feeds API operation, shared by all workers"},
    )
    max_wait_s = fields.Float(
        load_default=150.0,
        validate=validate.Range(min=0, max=900),
        metadata={
            "description": "the longest one request waits for a rate limit (an empty "
            "bucket or a 429's Retry-After); past it a send stops, leaving its changes "
            "pending, and the results task leaves the feed for its next poll"
        },
    )
    retries = fields.Integer(
        load_default=3,
        validate=validate.Range(min=0, max=10),
        metadata={"description": "retries after a connection error or 5xx (1, 2, 4 … s)"},
    )
    dry_run = fields.Boolean(
        load_default=False,
        metadata={
            "description": "build and validate the feed documents and keep them under the "
            "data directory instead of sending; every change fails with SYNCFARM_DRY_RUN"
        },
    )

    @validates_schema
    def _check_mapping(self, data: dict[str, Any], **_: Any) -> None:
        mapping = _mapping(data)
        stock_field = data.get("stock_field", DEFAULT_STOCK_FIELD)
        errors: dict[str, list[str]] = {}
        to_stock = sorted(f for f, attribute in mapping.items() if attribute == AVAILABILITY)
        if to_stock and to_stock != [stock_field]:
            errors["attribute_map"] = [
                f"{AVAILABILITY} comes from stock_field ({stock_field!r}), not from {to_stock}; "
                f"set stock_field to the quantity field"
            ]
        elif mapping.get(stock_field, AVAILABILITY) != AVAILABILITY:
            errors["attribute_map"] = [
                f"stock_field {stock_field!r} always goes to {AVAILABILITY}; map another field"
            ]
        targets = list(mapping.values())
        repeated = sorted({t for t in targets if targets.count(t) > 1})
        if repeated:
            errors.setdefault("attribute_map", []).append(f"mapped twice: {repeated}")
        unknown = sorted(set(data.get("required_fields") or ()) - set(mapping) - {stock_field})
        if unknown:
            errors["required_fields"] = [f"not in attribute_map: {unknown}"]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _fill_defaults(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        mapping = _mapping(data)
        mapping[data["stock_field"]] = AVAILABILITY
        data["attribute_map"] = mapping
        if data.get("required_fields") is None:
            data["required_fields"] = list(mapping)
        if data.get("issue_locale") is None:
            data["issue_locale"] = data["language_tag"]
        return data


def _mapping(data: dict[str, Any]) -> dict[str, str]:
    """The attribute map as given, or the default one with the stock under `stock_field`."""
    if data.get("attribute_map") is not None:
        return dict(data["attribute_map"])
    mapping = {f: a for f, a in DEFAULT_ATTRIBUTE_MAP.items() if a != AVAILABILITY}
    mapping[data.get("stock_field", DEFAULT_STOCK_FIELD)] = AVAILABILITY
    return mapping
