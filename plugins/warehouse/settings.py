"""The settings of a `warehouse` connection: a fulfilment warehouse with an HTTP JSON API."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from marshmallow import ValidationError, fields, validate, validates

from core import netguard
from plugins.shop.http import HttpSettings


class WarehouseSettings(HttpSettings):
    base_url = fields.String(
        required=True,
        metadata={"description": "the warehouse API's address, e.g. https://wms.example/api"},
    )
    token = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"secret": True, "description": "the API token, sent as a bearer token"},
    )
    reference_prefix = fields.String(
        load_default="",
        metadata={
            "description": "put before each order id to make the warehouse's external "
            "reference, e.g. `shopA-`: needed when several shops share a warehouse account"
        },
    )
    deliver_statuses = fields.List(
        fields.String(validate=validate.Length(min=1)),
        load_default=lambda: ["processing"],
        validate=validate.Length(min=1),
        metadata={"description": "order statuses that are ready to be delivered"},
    )
    per_page = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=500),
        metadata={"description": "shipments asked for per page"},
    )
    overlap_s = fields.Integer(
        load_default=300,
        validate=validate.Range(min=1, max=7 * 24 * 3600),
        metadata={"description": "seconds before the shipments cursor each download starts again"},
    )

    @validates("base_url")
    def _check_base_url(self, value: str, **_: Any) -> None:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValidationError("must be an http(s) URL")
        netguard.validate_public_url(value)
