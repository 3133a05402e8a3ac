"""A channel's export settings besides its rules: `currency`, `price_margin` and `defaults`.

They are compiled into rules that run after the project's rules and before the channel's own
(`settings_rules`), so a channel's rules see the channel's prices and may still change them:

1. `defaults` (field → value): a field missing or empty in a record gets the value;
2. `price_margin` ({"percent", "fixed", "round_to_99", "field"}): the price field becomes
   price × (1 + percent / 100) + fixed, rounded to 2 decimals, or to the next price ending in
   .99 at or below it with `round_to_99` (24.10 → "23.99" … 25.00 → "24.99"); a record without
   a numeric price keeps what it has;
3. `currency` (an ISO 4217 code): written to the record's `currency` field.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.errors import Invalid

FIELD_NAME = validate.Regexp(
    r"^[^$.\x00][^\x00]{0,99}$", error="must be a field name of 1 to 100 characters, not $…"
)
CURRENCY_FIELD = "currency"
CURRENCY_CODE = validate.Regexp(r"^[A-Z]{3}$", error="must be an ISO 4217 code like EUR")
MAX_DEFAULTS = 100


def within(low: int, high: int) -> Callable[[Decimal], None]:
    """A validator of a decimal from `low` to `high` (marshmallow's Range would put the
    bounds into the OpenAPI document as strings, which is not valid there)."""

    def check(value: Decimal) -> None:
        if not low <= value <= high:
            raise ValidationError(f"must be from {low} to {high}")

    return check


class PriceMargin(Schema):
    percent = fields.Decimal(
        load_default=Decimal(0),
        validate=within(-99, 1000),
        as_string=True,
        metadata={"description": "added to the price in %, -99 to 1000 (default 0)"},
    )
    fixed = fields.Decimal(
        load_default=Decimal(0),
        validate=within(-1_000_000, 1_000_000),
        as_string=True,
        metadata={"description": "added after the percentage (default 0)"},
    )
    round_to_99 = fields.Boolean(
        load_default=False, metadata={"description": "end prices in .99 (never rounding up)"}
    )
    field = fields.String(
        load_default="price", validate=FIELD_NAME, metadata={"description": "default price"}
    )


def default_value(value: Any) -> None:
    if isinstance(value, bool) or value is None:
        if value is None:
            raise ValidationError("must be a text, number or true/false, not null")
        return
    if not isinstance(value, str | int | float) or (isinstance(value, str) and len(value) > 1000):
        raise ValidationError("must be a text of at most 1000 characters, a number or true/false")


class ChannelSettings(Schema):
    """The three settings as stored on a connection (any of them may be absent)."""

    currency = fields.String(
        allow_none=True,
        validate=CURRENCY_CODE,
        metadata={"description": "ISO 4217 code written to each record's `currency`"},
    )
    price_margin = fields.Nested(PriceMargin, allow_none=True)
    defaults = fields.Dict(
        keys=fields.String(validate=FIELD_NAME),
        values=fields.Raw(validate=default_value),
        allow_none=True,
        metadata={"description": "field → value filled in when a record lacks the field"},
    )

    @validates_schema
    def _few_defaults(self, data: dict[str, Any], **kwargs: Any) -> None:
        if len(data.get("defaults") or {}) > MAX_DEFAULTS:
            raise ValidationError(f"at most {MAX_DEFAULTS} fields", "defaults")


def validate_channel_settings(data: dict[str, Any]) -> dict[str, Any]:
    """The given channel settings, checked and stored as JSON (Decimals as text)."""
    try:
        loaded: dict[str, Any] = ChannelSettings().load(data, partial=True)
    except ValidationError as exc:
        messages: dict[str, Any] = exc.normalized_messages()
        raise Invalid(
            "invalid channel settings: " + "; ".join(f"{k}: {v}" for k, v in messages.items()),
            errors=messages,
        ) from None
    stored: dict[str, Any] = {}
    for name, value in loaded.items():
        stored[name] = ChannelSettings().dump({name: value})[name] if value is not None else None
    return stored


def settings_rules(channel: dict[str, Any], key: str | None = None) -> list[dict[str, Any]]:
    """The rules the channel's settings stand for (empty when it has none); a default for the
    key field is left out, since rules never change a record's key."""
    rules: list[dict[str, Any]] = []
    for name, value in (channel.get("defaults") or {}).items():
        if name == key:
            continue
        rules.append(
            {"op": "set", "field": name, "value": value, "where": {"field": name, "empty": True}}
        )
    margin = channel.get("price_margin")
    if margin:
        price = margin.get("field") or "price"
        if price != key:
            factor = Decimal(1) + Decimal(str(margin.get("percent") or 0)) / 100
            expr = {
                "add": [{"mul": [{"field": price}, str(factor)]}, str(margin.get("fixed") or 0)]
            }
            rounding = (
                {"ending": ".99", "mode": "down"}
                if margin.get("round_to_99")
                else {"decimals": 2, "mode": "half_up"}
            )
            rules.append(
                {
                    "op": "set",
                    "field": price,
                    "expr": expr,
                    "round": rounding,
                    "where": {"field": price, "gt": -(10**12)},
                }
            )
    if channel.get("currency") and key != CURRENCY_FIELD:
        rules.append({"op": "set", "field": CURRENCY_FIELD, "value": channel["currency"]})
    return rules
