"""Checking a schedule a user sent: one marshmallow schema per mode, and `validate_schedule`.

Every message is a sentence about one field, named by its path from `schedule`
("schedule.blackout[0].from must be ..."), so the API can pass it on as the 422 message and a
client can put it next to the right input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validates_schema

from core.errors import ScheduleError
from core.schedule.modes import MODES, WEEKDAYS
from core.schedule.timeofday import format_time_of_day, parse_time_of_day

MAX_EVERY_MINUTES = 24 * 60
MAX_TIMES = 24 * 60
AUTOMATIC_DEFAULTS: dict[str, int] = {"debounce_s": 5, "max_batch": 500, "max_wait_s": 60}


def _show(value: object) -> str:
    """`value` as quoted in a message, cut short so a huge payload cannot flood the answer."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _messages(required: str = "is required") -> dict[str, str]:
    return {"required": required, "null": "must not be null"}


class _WholeNumber(fields.Field[int]):
    """A JSON integer in [minimum, maximum]; true/false and 5.0 are refused, not coerced."""

    def __init__(self, *, minimum: int, maximum: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", _messages())
        super().__init__(**kwargs)
        self.minimum = minimum
        self.maximum = maximum

    def _bounds(self) -> str:
        if self.maximum is None:
            return f"at least {self.minimum}"
        return f"between {self.minimum} and {self.maximum}"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"must be a whole number {self._bounds()}, got {_show(value)}")
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            raise ValidationError(f"must be {self._bounds()}, got {value}")
        return value


class _Seconds(fields.Field[float]):
    """A duration in seconds: a finite JSON number >= 0 (ints stay ints)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", _messages())
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < 0:
            raise ValidationError(f"must be a number of seconds, at least 0, got {_show(value)}")
        return value  # type: ignore[no-any-return]


class _TimeOfDay(fields.Field[int]):
    """A "HH:MM[:SS]" string, loaded as seconds after local midnight."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", _messages())
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        try:
            return parse_time_of_day(value)
        except ValueError:
            raise ValidationError(f"must be a time of day HH:MM[:SS], got {_show(value)}") from None


class _Weekday(fields.Field[int]):
    """A day name mon..sun in any case, loaded as its `date.weekday()` number."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", _messages())
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        name = value.lower() if isinstance(value, str) else None
        if name not in WEEKDAYS:
            raise ValidationError(f"must be one of {', '.join(WEEKDAYS)}, got {_show(value)}")
        return WEEKDAYS.index(name)


class _ListOf(fields.List):
    """A JSON array with a bounded length; `noun` names the items in messages."""

    def __init__(
        self,
        inner: fields.Field,
        *,
        noun: str,
        min_items: int = 0,
        max_items: int | None = None,
        too_few: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("error_messages", _messages())
        super().__init__(inner, **kwargs)
        self.noun = noun
        self.min_items = min_items
        self.max_items = max_items
        self.too_few = too_few or f"must have at least {min_items} {noun}, got none"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise ValidationError(f"must be a list of {self.noun}, got {_show(value)}")
        if self.max_items is not None and len(value) > self.max_items:
            raise ValidationError(
                f"must have at most {self.max_items} {self.noun}, got {len(value)}"
            )
        if len(value) < self.min_items:
            raise ValidationError(self.too_few)
        return super()._deserialize(value, attr, data, **kwargs)


class _Object(fields.Nested):
    """A nested JSON object; `example` shows its shape when something else was sent."""

    def __init__(self, nested: type[Schema], *, example: str, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", _messages())
        super().__init__(nested, **kwargs)
        self.example = example

    def _deserialize(
        self,
        value: Any,
        attr: str | None,
        data: Mapping[str, Any] | None,
        partial: bool | Sequence[str] | AbstractSet[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        if not isinstance(value, Mapping):
            raise ValidationError(f"must be an object like {self.example}, got {_show(value)}")
        return super()._deserialize(value, attr, data, partial, **kwargs)


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
    start = _TimeOfDay(data_key="from", required=True)
    end = _TimeOfDay(data_key="to", required=True)

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


def _weekdays() -> _ListOf:
    return _ListOf(
        _Weekday(),
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
    every_minutes = _WholeNumber(
        minimum=1,
        maximum=MAX_EVERY_MINUTES,
        required=True,
        error_messages=_messages(f"is required for mode 'interval' (1 to {MAX_EVERY_MINUTES})"),
    )
    blackout = _ListOf(
        _Object(WindowSchema, example='{"from": "20:00", "to": "04:00"}'),
        noun="blackout windows",
        load_default=list,
    )
    weekdays = _weekdays()

    @post_load
    def _stored(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**data, "weekdays": _stored_weekdays(data["weekdays"])}


class DailySchema(_ModeSchema):
    subject = "mode 'daily'"
    times = _ListOf(
        _TimeOfDay(),
        noun="times",
        min_items=1,
        too_few="must have at least one time, got none",
        max_items=MAX_TIMES,
        required=True,
        error_messages=_messages("is required for mode 'daily' (a list of HH:MM[:SS])"),
    )
    weekdays = _weekdays()

    @post_load
    def _stored(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        times = [format_time_of_day(seconds) for seconds in sorted(set(data["times"]))]
        return {**data, "times": times, "weekdays": _stored_weekdays(data["weekdays"])}


class AutomaticSchema(_ModeSchema):
    """Event-driven runs (fired by a later feature): wait `debounce_s` after the last change,
    start early once `max_batch` changes are waiting, and never wait more than `max_wait_s`."""

    subject = "mode 'automatic'"
    debounce_s = _Seconds(load_default=AUTOMATIC_DEFAULTS["debounce_s"])
    max_batch = _WholeNumber(minimum=1, load_default=AUTOMATIC_DEFAULTS["max_batch"])
    max_wait_s = _Seconds(load_default=AUTOMATIC_DEFAULTS["max_wait_s"])

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
        raise _refuse(f"must be an object with a mode, got {_show(data)}")
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
            problem = f"must be one of {', '.join(modes)}, got {_show(mode)}"
        raise _refuse({"mode": [problem]})
    body = {key: value for key, value in data.items() if key != "mode"}
    try:
        loaded = _SCHEMAS[mode]().load(body)
    except ValidationError as error:
        raise _refuse(error.messages) from None
    return {"mode": mode, **loaded}
