"""marshmallow fields for schedules, each refusing bad input with a "must ..., got ..." phrase.

The phrases lack the field's name on purpose: `schema.validate_schedule` prefixes the path
("schedule.blackout[0].from"), which a field cannot know inside a list.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from marshmallow import Schema, ValidationError, fields

from core.schedule.modes import WEEKDAYS
from core.schedule.timeofday import parse_time_of_day


def show(value: object) -> str:
    """`value` as quoted in a message, cut short so a huge payload cannot flood the answer."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def messages(required: str = "is required") -> dict[str, str]:
    return {"required": required, "null": "must not be null"}


class WholeNumber(fields.Field[int]):
    """A JSON integer in [minimum, maximum]; true/false and 5.0 are refused, not coerced."""

    def __init__(self, *, minimum: int, maximum: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", messages())
        super().__init__(**kwargs)
        self.minimum = minimum
        self.maximum = maximum

    def _bounds(self) -> str:
        if self.maximum is None:
            return f"at least {self.minimum}"
        return f"between {self.minimum} and {self.maximum}"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"must be a whole number {self._bounds()}, got {show(value)}")
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            raise ValidationError(f"must be {self._bounds()}, got {value}")
        return value


class Seconds(fields.Field[float]):
    """A duration in seconds: a finite JSON number >= 0 (ints stay ints)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", messages())
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < 0:
            raise ValidationError(f"must be a number of seconds, at least 0, got {show(value)}")
        return value  # type: ignore[no-any-return]


class TimeOfDay(fields.Field[int]):
    """A "HH:MM[:SS]" string, loaded as seconds after local midnight."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", messages())
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        try:
            return parse_time_of_day(value)
        except ValueError:
            raise ValidationError(f"must be a time of day HH:MM[:SS], got {show(value)}") from None


class Weekday(fields.Field[int]):
    """A day name mon..sun in any case, loaded as its `date.weekday()` number."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", messages())
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        name = value.lower() if isinstance(value, str) else None
        if name not in WEEKDAYS:
            raise ValidationError(f"must be one of {', '.join(WEEKDAYS)}, got {show(value)}")
        return WEEKDAYS.index(name)


class ListOf(fields.List):
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
        kwargs.setdefault("error_messages", messages())
        super().__init__(inner, **kwargs)
        self.noun = noun
        self.min_items = min_items
        self.max_items = max_items
        self.too_few = too_few or f"must have at least {min_items} {noun}, got none"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise ValidationError(f"must be a list of {self.noun}, got {show(value)}")
        if self.max_items is not None and len(value) > self.max_items:
            raise ValidationError(
                f"must have at most {self.max_items} {self.noun}, got {len(value)}"
            )
        if len(value) < self.min_items:
            raise ValidationError(self.too_few)
        return super()._deserialize(value, attr, data, **kwargs)


class Object(fields.Nested):
    """A nested JSON object; `example` shows its shape when something else was sent."""

    def __init__(self, nested: type[Schema], *, example: str, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", messages())
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
            raise ValidationError(f"must be an object like {self.example}, got {show(value)}")
        return super()._deserialize(value, attr, data, partial, **kwargs)
