"""Checking a schedule a user sent: one marshmallow schema per mode, and `validate_schedule`.

Every message is a sentence about one field, named by its path from `schedule`
("schedule.blackout[0].from must be ..."), so the API can pass it on as the 422 message and a
client can put it next to the right input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, post_load, validates_schema

from core.errors import ScheduleError
from core.schedule.fields import (
    ListOf,
    Object,
    Seconds,
    TimeOfDay,
    Weekday,
    WholeNumber,
    messages,
    show,
)
from core.schedule.modes import MODES, WEEKDAYS
from core.schedule.timeofday import format_time_of_day

MAX_EVERY_MINUTES = 24 * 60
MAX_TIMES = 24 * 60
AUTOMATIC_DEFAULTS: dict[str, int] = {"debounce_s": 5, "max_batch": 500, "max_wait_s": 60}


class _StrictSchema(Schema):
    """Refuses keys it does not know, naming each one and the keys it does know.

    marshmallow's own RAISE says only "Unknown field."; we EXCLUDE and then report unknown keys
    next to any other errors, so one answer lists everything that is wrong.
    """

    subject = "this object"
    implicit_keys: tuple[str, ...] = ()

    class Meta:
        unknown = EXCLUDE

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _refuse_unknown_keys(self, data: Any, original_data: Any, **kwargs: Any) -> None:
        allowed = [*self.implicit_keys]
        allowed += [field.data_key or name for name, field in self.load_fields.items()]
        unknown = [key for key in original_data if key not in allowed]
        if unknown:
            settings = ", ".join(allowed)
            raise ValidationError(
                {str(key): [f"is not a setting of {self.subject} ({settings})"] for key in unknown}
            )


class WindowSchema(_StrictSchema):
    """A blackout window of local wall-clock time, `from` inclusive to `to` exclusive.

    `to` at or before `from` means the window crosses midnight; `to` equal to `from` would be
    either empty or the whole day, so it is refused rather than guessed.
    """

    subject = "a blackout window"
    start = TimeOfDay(data_key="from", required=True)
    end = TimeOfDay(data_key="to", required=True)

    @validates_schema
    def _not_empty(self, data: dict[str, int], **kwargs: Any) -> None:
        if data["start"] == data["end"]:
            same = format_time_of_day(data["start"])
            raise ValidationError(
                f"must have different from and to, got both {same!r} "
                "(a window whose to is before its from crosses midnight)"
            )

    @post_load
    def _stored(self, data: dict[str, int], **kwargs: Any) -> dict[str, str]:
        return {"from": format_time_of_day(data["start"]), "to": format_time_of_day(data["end"])}


def _weekdays() -> ListOf:
    return ListOf(
        Weekday(),
        noun="day names",
        min_items=1,
        too_few="must name at least one day, got none (leave weekdays out to allow every day)",
        load_default=lambda: list(range(len(WEEKDAYS))),
    )


def _stored_weekdays(numbers: list[int]) -> list[str]:
    return [WEEKDAYS[number] for number in sorted(set(numbers))]


class _ModeSchema(_StrictSchema):
    implicit_keys = ("mode",)


class DefaultSchema(_ModeSchema):
    subject = "mode 'default'"


class ManualSchema(_ModeSchema):
    subject = "mode 'manual'"


class AsNeededSchema(_ModeSchema):
    subject = "mode 'as_needed'"


class IntervalSchema(_ModeSchema):
    subject = "mode 'interval'"
    every_minutes = WholeNumber(
        minimum=1,
        maximum=MAX_EVERY_MINUTES,
        required=True,
        error_messages=messages(f"is required for mode 'interval' (1 to {MAX_EVERY_MINUTES})"),
    )
    blackout = ListOf(
        Object(WindowSchema, example='{"from": "20:00", "to": "04:00"}'),
        noun="blackout windows",
        load_default=list,
    )
    weekdays = _weekdays()

    @post_load
    def _stored(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**data, "weekdays": _stored_weekdays(data["weekdays"])}


class DailySchema(_ModeSchema):
    subject = "mode 'daily'"
    times = ListOf(
        TimeOfDay(),
        noun="times",
        min_items=1,
        too_few="must have at least one time, got none",
        max_items=MAX_TIMES,
        required=True,
        error_messages=messages("is required for mode 'daily' (a list of HH:MM[:SS])"),
    )
    weekdays = _weekdays()

    @post_load
    def _stored(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        times = [format_time_of_day(seconds) for seconds in sorted(set(data["times"]))]
        return {**data, "times": times, "weekdays": _stored_weekdays(data["weekdays"])}


class AutomaticSchema(_ModeSchema):
    """Event-driven runs (core/batches.py): wait `debounce_s` after the last event, start
    early once `max_batch` events are waiting, and never wait more than `max_wait_s`."""

    subject = "mode 'automatic'"
    debounce_s = Seconds(load_default=AUTOMATIC_DEFAULTS["debounce_s"])
    max_batch = WholeNumber(minimum=1, load_default=AUTOMATIC_DEFAULTS["max_batch"])
    max_wait_s = Seconds(load_default=AUTOMATIC_DEFAULTS["max_wait_s"])

    @validates_schema(pass_original=True)
    def _wait_covers_debounce(
        self, data: dict[str, Any], original_data: Any, **kwargs: Any
    ) -> None:
        if data["max_wait_s"] < data["debounce_s"]:
            given = "" if "max_wait_s" in original_data else " (the default)"
            raise ValidationError(
                f"must be at least debounce_s ({data['debounce_s']}), "
                f"got {data['max_wait_s']}{given}",
                field_name="max_wait_s",
            )


_SCHEMAS: dict[str, type[_ModeSchema]] = {
    "default": DefaultSchema,
    "interval": IntervalSchema,
    "daily": DailySchema,
    "manual": ManualSchema,
    "as_needed": AsNeededSchema,
    "automatic": AutomaticSchema,
}


def _flatten(messages: Any, path: str, into: dict[str, list[str]]) -> dict[str, list[str]]:
    """marshmallow's nested errors made flat: {"blackout[0].from": ["schedule.blackout[0]..."]}."""
    if isinstance(messages, dict):
        for key, sub in messages.items():
            if key == "_schema":
                _flatten(sub, path, into)
            elif isinstance(key, int):
                _flatten(sub, f"{path}[{key}]", into)
            else:
                _flatten(sub, f"{path}.{key}" if path else str(key), into)
    elif isinstance(messages, list):
        for message in messages:
            _flatten(message, path, into)
    else:
        where = f"schedule.{path}" if path else "schedule"
        into.setdefault(path or "_schema", []).append(f"{where} {messages}")
    return into


def _refuse(messages: Any) -> ScheduleError:
    errors = _flatten(messages, "", {})
    message = "; ".join(text for texts in errors.values() for text in texts)
    return ScheduleError(message, errors={"schedule": errors})


def validate_schedule(data: object, *, allow_default: bool = True) -> dict[str, Any]:
    """A normalized copy of the schedule `data`, or ScheduleError saying every problem with it.

    Normalized means: defaults filled in (weekdays = all seven, blackout = [], the automatic
    settings), weekdays lowercase, deduplicated and ordered mon..sun, times deduplicated and
    sorted, times of day spelled "HH:MM" (or "HH:MM:SS" when the seconds are not zero). Two
    schedules that mean the same thing therefore compare equal.

    `allow_default=False` is for a project's own schedule, which has nothing to defer to.
    """
    if not isinstance(data, Mapping):
        raise _refuse(f"must be an object with a mode, got {show(data)}")
    modes = [mode for mode in MODES if allow_default or mode != "default"]
    mode = data.get("mode")
    if mode not in modes:
        if "mode" not in data:
            problem = f"is required: one of {', '.join(modes)}"
        elif mode == "default":
            problem = (
                "cannot be 'default' here: only a job can defer to its project's schedule; "
                f"use one of {', '.join(modes)}"
            )
        else:
            problem = f"must be one of {', '.join(modes)}, got {show(mode)}"
        raise _refuse({"mode": [problem]})
    body = {key: value for key, value in data.items() if key != "mode"}
    try:
        loaded = _SCHEMAS[mode]().load(body)
    except ValidationError as error:
        raise _refuse(error.messages) from None
    return {"mode": mode, **loaded}
