"""Marshmallow schemas of the REST contract (input shapes; meaning is checked in core)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from core.channel_settings import CURRENCY_CODE, FIELD_NAME, PriceMargin, default_value, within
from core.clock import from_ms
from core.models import ConnectionRole, JobKind, RunState, Trigger

NAME = validate.Length(min=1, max=200)


class Timestamp(fields.DateTime):
    """A stored time (epoch milliseconds, UTC) shown as ISO 8601."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, int | float):
            value = from_ms(int(value))
        return super()._serialize(value, attr, obj, **kwargs)


class ProjectIn(Schema):
    name = fields.String(required=True, validate=NAME)
    timezone = fields.String(metadata={"description": "IANA timezone, default UTC"})
    schedule = fields.Dict(metadata={"description": "the project's default schedule"})
    paused = fields.Boolean()
    rules = fields.List(fields.Dict())
    alerts = fields.List(
        fields.Dict(),
        metadata={"description": "conditions watched after each import, and who is told"},
    )
    shrink_threshold_pct = fields.Integer(
        validate=validate.Range(min=0, max=100),
        metadata={"description": "hold a fetch that would delete more than this % (50)"},
    )
    stock_field = fields.String(
        validate=FIELD_NAME, metadata={"description": "record sets read stock here (stock)"}
    )
    price_field = fields.String(
        validate=FIELD_NAME, metadata={"description": "record sets read prices here (price)"}
    )
    low_stock_threshold = fields.Integer(
        validate=validate.Range(min=0, max=1_000_000_000),
        metadata={"description": "`low-stock`: 0 < stock <= this (5)"},
    )
    low_price_threshold = fields.Decimal(
        validate=within(0, 1_000_000_000),
        as_string=True,
        metadata={"description": "`low-price`: 0 < price < this (1)"},
    )


class ProjectPatch(ProjectIn):
    name = fields.String(validate=NAME)


class ProjectOut(Schema):
    id = fields.String(attribute="_id")
    name = fields.String()
    timezone = fields.String()
    schedule = fields.Dict()
    paused = fields.Boolean()
    rules = fields.List(fields.Dict())
    shrink_threshold_pct = fields.Integer()
    alerts = fields.List(fields.Dict())
    stock_field = fields.String()
    price_field = fields.String()
    low_stock_threshold = fields.Integer()
    low_price_threshold = fields.String()
    warnings = fields.List(fields.String())
    created_at = Timestamp()
    updated_at = Timestamp()


class ChannelSettingsIn(Schema):
    """A channel's currency, price margin, defaults and category field (see the README)."""

    currency = fields.String(
        allow_none=True,
        validate=CURRENCY_CODE,
        metadata={"description": "ISO 4217 code written to each record's `currency`"},
    )
    price_margin = fields.Nested(
        PriceMargin,
        allow_none=True,
        metadata={"description": "price × (1 + percent/100) + fixed, optionally ending in .99"},
    )
    defaults = fields.Dict(
        keys=fields.String(validate=FIELD_NAME),
        values=fields.Raw(validate=default_value),
        allow_none=True,
        metadata={"description": "field → value filled in when a record lacks the field"},
    )
    category_field = fields.String(
        allow_none=True,
        validate=FIELD_NAME,
        metadata={"description": "the field `category:<id>` sets look at (category)"},
    )


class ConnectionIn(ChannelSettingsIn):
    name = fields.String(validate=NAME)
    connector = fields.String(required=True, validate=validate.Length(min=1, max=100))
    role = fields.String(required=True, validate=validate.OneOf([r.value for r in ConnectionRole]))
    settings = fields.Dict()
    order = fields.Integer(validate=validate.Range(min=0, max=10_000))
    paused = fields.Boolean()
    read_only_fields = fields.List(fields.String())
    auto_absorb = fields.Boolean()
    real_deletes = fields.Boolean(metadata={"description": "send deletes, not delists"})
    max_identical_failures = fields.Integer(
        validate=validate.Range(min=1, max=100),
        metadata={"description": "the same failure this often stops a change (default 5)"},
    )
    rules = fields.List(fields.Dict(), metadata={"description": "this channel's export rules"})


class ConnectionPatch(ChannelSettingsIn):
    name = fields.String(validate=NAME)
    settings = fields.Dict()
    order = fields.Integer(validate=validate.Range(min=0, max=10_000))
    paused = fields.Boolean()
    read_only_fields = fields.List(fields.String())
    auto_absorb = fields.Boolean()
    real_deletes = fields.Boolean()
    max_identical_failures = fields.Integer(validate=validate.Range(min=1, max=100))
    rules = fields.List(fields.Dict())


class ConnectionOut(Schema):
    id = fields.String(attribute="_id")
    project_id = fields.String()
    name = fields.String()
    connector = fields.String()
    role = fields.String()
    settings = fields.Dict()
    order = fields.Integer()
    paused = fields.Boolean()
    read_only_fields = fields.List(fields.String())
    auto_absorb = fields.Boolean()
    real_deletes = fields.Boolean()
    max_identical_failures = fields.Integer()
    rules = fields.List(fields.Dict())
    currency = fields.String(allow_none=True)
    price_margin = fields.Dict(allow_none=True)
    defaults = fields.Dict(allow_none=True)
    category_field = fields.String(allow_none=True)
    available = fields.Boolean(
        metadata={"description": "false when its connector is not installed"}
    )
    export_url = fields.String(metadata={"description": "where a file channel's file is served"})
    webhook_url = fields.String(metadata={"description": "where events are posted (signed)"})
    webhook_secret = fields.String(
        metadata={"description": "signs events: X-Syncfarm-Signature: sha256=<HMAC-SHA256>"}
    )
    created_at = Timestamp()
    updated_at = Timestamp()


class JobIn(Schema):
    name = fields.String(validate=NAME)
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in JobKind]))
    connection_id = fields.String(allow_none=True)
    task = fields.String(allow_none=True, validate=validate.Length(max=100))
    enabled = fields.Boolean()
    schedule = fields.Dict()


class JobPatch(Schema):
    name = fields.String(validate=NAME)
    connection_id = fields.String(allow_none=True)
    task = fields.String(allow_none=True, validate=validate.Length(max=100))
    enabled = fields.Boolean()
    schedule = fields.Dict()


class JobOut(Schema):
    id = fields.String(attribute="_id")
    project_id = fields.String()
    name = fields.String()
    kind = fields.String()
    connection_id = fields.String(allow_none=True)
    task = fields.String(allow_none=True)
    parent_job_id = fields.String(allow_none=True)
    enabled = fields.Boolean()
    schedule = fields.Dict()
    effective_schedule = fields.Dict()
    next_fire_at = Timestamp(allow_none=True)
    last_fired_at = Timestamp(allow_none=True)
    pending_run_id = fields.String(allow_none=True)
    running_run_id = fields.String(allow_none=True)
    coalesced_fires = fields.Integer()
    batch_count = fields.Integer(
        metadata={"description": "events waiting for this automatic job's next run"}
    )
    created_at = Timestamp()
    updated_at = Timestamp()


class StageOut(Schema):
    name = fields.String()
    started_at = Timestamp(allow_none=True)
    finished_at = Timestamp(allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())


class TransitionOut(Schema):
    state = fields.String()
    at = Timestamp()


class RunOut(Schema):
    id = fields.String(attribute="_id")
    project_id = fields.String()
    job_id = fields.String()
    job_kind = fields.String()
    trigger = fields.String(validate=validate.OneOf([t.value for t in Trigger]))
    state = fields.String(validate=validate.OneOf([s.value for s in RunState]))
    queued_at = Timestamp()
    started_at = Timestamp(allow_none=True)
    finished_at = Timestamp(allow_none=True)
    stages = fields.List(fields.Nested(StageOut))
    progress = fields.Dict(allow_none=True)
    error = fields.Dict(allow_none=True)
    attempts = fields.Integer()
    worker = fields.String(allow_none=True, metadata={"description": "host:pid that ran it"})
    coalesced_fires = fields.Integer()
    event_count = fields.Integer(metadata={"description": "events an `event` run covers"})
    transitions = fields.List(fields.Nested(TransitionOut))


class RunsQuery(Schema):
    state = fields.String(validate=validate.OneOf([s.value for s in RunState]))
    job_id = fields.String()


class EventAccepted(Schema):
    event_id = fields.String()
    jobs = fields.List(
        fields.String(), metadata={"description": "the automatic jobs the event was batched into"}
    )
