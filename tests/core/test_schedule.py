"""Schedules: what is accepted, how it is stored, and exactly when it fires (DST included)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ScheduleError
from core.schedule import (
    CLOCK_MODES,
    MODES,
    WEEKDAYS,
    effective_schedule,
    fires_on_day,
    max_fires_per_day,
    next_fire,
    validate_schedule,
    validate_timezone,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
LORD_HOWE = "Australia/Lord_Howe"
KOLKATA = "Asia/Kolkata"
ZONES = ["UTC", BERLIN, NEW_YORK, LORD_HOWE, KOLKATA]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def interval(every_minutes: int, **settings_: Any) -> dict[str, Any]:
    return validate_schedule({"mode": "interval", "every_minutes": every_minutes, **settings_})


def daily(*times: str, **settings_: Any) -> dict[str, Any]:
    return validate_schedule({"mode": "daily", "times": list(times), **settings_})


def refusal(data: object, **kwargs: Any) -> ScheduleError:
    with pytest.raises(ScheduleError) as caught:
        validate_schedule(data, **kwargs)
    assert caught.value.status == 422
    return caught.value


def local_times(fires: list[datetime], tz: str) -> list[str]:
    return [fire.astimezone(ZoneInfo(tz)).strftime("%H:%M") for fire in fires]


# --- what is accepted, and how it is stored ---------------------------------------------------


def test_the_modes_are_listed_and_only_interval_and_daily_fire_by_the_clock() -> None:
    assert MODES == ("default", "interval", "daily", "manual", "as_needed", "automatic")
    assert sorted(CLOCK_MODES) == ["daily", "interval"]


def test_an_interval_schedule_is_stored_with_every_default_filled_in() -> None:
    assert interval(15) == {
        "mode": "interval",
        "every_minutes": 15,
        "blackout": [],
        "weekdays": list(WEEKDAYS),
    }


def test_weekdays_are_accepted_in_any_case_and_stored_lowercase_once_each_mon_to_sun() -> None:
    schedule = interval(60, weekdays=["SUN", "Mon", "wed", "mon"])
    assert schedule["weekdays"] == ["mon", "wed", "sun"]


def test_blackout_times_are_stored_without_seconds_unless_they_have_some() -> None:
    schedule = interval(30, blackout=[{"from": "20:00:00", "to": "04:00:30"}])
    assert schedule["blackout"] == [{"from": "20:00", "to": "04:00:30"}]


def test_daily_times_are_stored_sorted_with_duplicates_removed() -> None:
    schedule = daily("18:30:15", "06:00", "06:00:00", "00:00")
    assert schedule == {
        "mode": "daily",
        "times": ["00:00", "06:00", "18:30:15"],
        "weekdays": list(WEEKDAYS),
    }


def test_an_automatic_schedule_is_stored_with_its_defaults() -> None:
    assert validate_schedule({"mode": "automatic"}) == {
        "mode": "automatic",
        "debounce_s": 5,
        "max_batch": 500,
        "max_wait_s": 60,
    }
    custom = {"mode": "automatic", "debounce_s": 0.5, "max_batch": 1, "max_wait_s": 0.5}
    assert validate_schedule(custom) == custom


@pytest.mark.parametrize("mode", ["default", "manual", "as_needed"])
def test_modes_without_settings_are_stored_as_just_their_mode(mode: str) -> None:
    assert validate_schedule({"mode": mode}) == {"mode": mode}


def test_validating_returns_a_copy_and_leaves_the_input_alone() -> None:
    data = {"mode": "daily", "times": ["18:00", "06:00"], "weekdays": ["MON"]}
    validate_schedule(data)
    assert data == {"mode": "daily", "times": ["18:00", "06:00"], "weekdays": ["MON"]}


# --- what is refused, and what the refusal says -----------------------------------------------


@pytest.mark.parametrize("every_minutes", [0, 1441, -5])
def test_every_minutes_outside_1_to_1440_is_refused_with_the_value(every_minutes: int) -> None:
    error = refusal({"mode": "interval", "every_minutes": every_minutes})
    expected = f"schedule.every_minutes must be between 1 and 1440, got {every_minutes}"
    assert error.message == expected
    assert error.errors == {"schedule": {"every_minutes": [expected]}}


@pytest.mark.parametrize("every_minutes", [True, 5.0, "5", None])
def test_every_minutes_must_be_a_json_whole_number(every_minutes: object) -> None:
    error = refusal({"mode": "interval", "every_minutes": every_minutes})
    assert error.message.startswith("schedule.every_minutes must ")


def test_an_interval_without_every_minutes_is_refused() -> None:
    assert "schedule.every_minutes is required" in refusal({"mode": "interval"}).message


def test_a_blackout_time_that_is_not_a_time_of_day_is_refused_with_its_position() -> None:
    error = refusal(
        {"mode": "interval", "every_minutes": 5, "blackout": [{"from": "25:00", "to": "04:00"}]}
    )
    expected = "schedule.blackout[0].from must be a time of day HH:MM[:SS], got '25:00'"
    assert error.message == expected
    assert error.errors == {"schedule": {"blackout[0].from": [expected]}}


@pytest.mark.parametrize("text", ["24:00", "6:00", "06:60", "06:00:60", "0600", "", "06:00 "])
def test_only_two_digit_times_from_00_00_to_23_59_59_are_accepted(text: str) -> None:
    assert "must be a time of day" in refusal({"mode": "daily", "times": [text]}).message


@pytest.mark.parametrize(("start", "end"), [("20:00", "20:00"), ("20:00", "20:00:00")])
def test_a_blackout_window_from_equal_to_to_is_refused(start: str, end: str) -> None:
    error = refusal(
        {"mode": "interval", "every_minutes": 5, "blackout": [{"from": start, "to": end}]}
    )
    assert error.message.startswith("schedule.blackout[0] must have different from and to")


def test_a_blackout_window_must_be_an_object_with_from_and_to_only() -> None:
    error = refusal(
        {"mode": "interval", "every_minutes": 5, "blackout": ["20-04", {"from": "20:00"}]}
    )
    assert set(error.errors["schedule"]) == {"blackout[0]", "blackout[1].to"}
    extra = {"from": "20:00", "to": "04:00", "until": "05:00"}
    error = refusal({"mode": "interval", "every_minutes": 5, "blackout": [extra]})
    assert "schedule.blackout[0].until is not a setting of a blackout window" in error.message


def test_an_unknown_weekday_is_refused_with_its_position_and_the_valid_names() -> None:
    error = refusal({"mode": "daily", "times": ["06:00"], "weekdays": ["mon", "tue", "funday"]})
    assert error.message == (
        "schedule.weekdays[2] must be one of mon, tue, wed, thu, fri, sat, sun, got 'funday'"
    )


def test_an_empty_weekday_list_is_refused_rather_than_never_firing() -> None:
    error = refusal({"mode": "daily", "times": ["06:00"], "weekdays": []})
    assert "schedule.weekdays must name at least one day" in error.message


def test_daily_needs_between_one_and_1440_times() -> None:
    assert "at least one time" in refusal({"mode": "daily", "times": []}).message
    too_many = [f"{minute // 60:02d}:{minute % 60:02d}" for minute in range(1440)] + ["00:00:01"]
    assert "at most 1440 times, got 1441" in refusal({"mode": "daily", "times": too_many}).message
    assert "schedule.times is required" in refusal({"mode": "daily"}).message


def test_a_max_wait_shorter_than_the_debounce_is_refused() -> None:
    error = refusal({"mode": "automatic", "debounce_s": 100})
    assert error.message == (
        "schedule.max_wait_s must be at least debounce_s (100), got 60 (the default)"
    )
    error = refusal({"mode": "automatic", "max_batch": 0, "debounce_s": -1})
    assert set(error.errors["schedule"]) == {"max_batch", "debounce_s"}


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"mode": "interval", "every_minutes": 5, "times": ["06:00"]}, "times"),
        ({"mode": "daily", "times": ["06:00"], "blackout": []}, "blackout"),
        ({"mode": "manual", "every_minutes": 5}, "every_minutes"),
        ({"mode": "default", "x": 1}, "x"),
    ],
)
def test_a_key_the_mode_does_not_have_is_refused_by_name(data: dict[str, Any], key: str) -> None:
    error = refusal(data)
    assert f"schedule.{key} is not a setting of mode '{data['mode']}'" in error.message
    assert key in error.errors["schedule"]


def test_an_unknown_mode_is_refused_listing_the_valid_modes() -> None:
    error = refusal({"mode": "weekly"})
    assert error.message == (
        "schedule.mode must be one of default, interval, daily, manual, as_needed, automatic, "
        "got 'weekly'"
    )
    assert "schedule.mode is required" in refusal({"every_minutes": 5}).message


@pytest.mark.parametrize("data", [None, [], "daily", 5])
def test_a_schedule_that_is_not_an_object_is_refused(data: object) -> None:
    assert refusal(data).message.startswith("schedule must be an object with a mode")


def test_every_problem_is_reported_in_one_refusal() -> None:
    error = refusal(
        {
            "mode": "interval",
            "every_minutes": 0,
            "blackout": [{"from": "20:00", "to": "4"}],
            "weekdays": ["mon", "someday"],
            "colour": "blue",
        }
    )
    assert set(error.errors["schedule"]) == {
        "every_minutes",
        "blackout[0].to",
        "weekdays[1]",
        "colour",
    }


def test_a_project_schedule_cannot_be_default() -> None:
    error = refusal({"mode": "default"}, allow_default=False)
    assert error.message.startswith("schedule.mode cannot be 'default' here")


def test_a_time_zone_must_be_an_iana_name() -> None:
    assert validate_timezone(BERLIN) == BERLIN
    assert validate_timezone("UTC") == "UTC"
    for wrong in ["Mars/Olympus_Mons", "", "localtime", "../etc/passwd", None, 1]:
        with pytest.raises(ScheduleError) as caught:
            validate_timezone(wrong)
        assert caught.value.errors == {"timezone": [caught.value.message]}
    with pytest.raises(ScheduleError, match="did you mean 'Europe/Berlin'"):
        validate_timezone("europe/berlin")


# --- default schedules ------------------------------------------------------------------------


def test_a_job_on_the_default_schedule_follows_its_project() -> None:
    project = daily("06:00")
    assert effective_schedule({"mode": "default"}, project) == project


def test_a_job_with_its_own_schedule_keeps_it() -> None:
    own = interval(5)
    assert effective_schedule(own, daily("06:00")) == own


def test_a_project_on_the_default_schedule_cannot_be_followed() -> None:
    with pytest.raises(ScheduleError):
        effective_schedule({"mode": "default"}, {"mode": "default"})


def test_a_default_schedule_must_be_resolved_before_asking_when_it_fires() -> None:
    with pytest.raises(ValueError, match="effective_schedule"):
        next_fire({"mode": "default"}, BERLIN, utc(2026, 1, 1))


# --- when clock schedules fire ----------------------------------------------------------------


def test_interval_slots_are_multiples_of_every_minutes_from_local_midnight() -> None:
    fires = fires_on_day(interval(15), "UTC", date(2026, 6, 1))
    assert len(fires) == 96
    assert fires[0] == utc(2026, 6, 1, 0, 0)
    assert fires[-1] == utc(2026, 6, 1, 23, 45)


def test_interval_slots_restart_at_midnight_when_the_interval_does_not_divide_the_day() -> None:
    schedule = interval(7)
    fires = fires_on_day(schedule, "UTC", date(2026, 6, 1))
    assert len(fires) == 206
    assert fires[-1] == utc(2026, 6, 1, 23, 55)
    assert next_fire(schedule, "UTC", fires[-1]) == utc(2026, 6, 2, 0, 0)


def test_interval_slots_follow_the_local_clock_not_utc() -> None:
    fires = fires_on_day(interval(60), KOLKATA, date(2026, 6, 1))
    assert fires[0] == utc(2026, 5, 31, 18, 30)
    assert local_times(fires, KOLKATA)[:3] == ["00:00", "01:00", "02:00"]


def test_a_blackout_crossing_midnight_covers_the_evening_and_the_early_morning() -> None:
    schedule = interval(60, blackout=[{"from": "20:00", "to": "04:00"}])
    fires = fires_on_day(schedule, BERLIN, date(2026, 6, 1))
    assert local_times(fires, BERLIN) == [f"{hour:02d}:00" for hour in range(4, 20)]
    assert max_fires_per_day(schedule, BERLIN) == 16


def test_a_blackout_includes_its_start_and_excludes_its_end_to_the_second() -> None:
    schedule = interval(1, blackout=[{"from": "10:00", "to": "10:02:01"}])
    fires = fires_on_day(schedule, "UTC", date(2026, 6, 1))
    assert utc(2026, 6, 1, 9, 59) in fires
    assert utc(2026, 6, 1, 10, 0) not in fires
    assert utc(2026, 6, 1, 10, 2) not in fires
    assert utc(2026, 6, 1, 10, 3) in fires


def test_daily_fires_at_each_time_to_the_second() -> None:
    fires = fires_on_day(daily("18:30:15", "06:00"), NEW_YORK, date(2026, 6, 1))
    assert fires == [utc(2026, 6, 1, 10, 0), utc(2026, 6, 1, 22, 30, 15)]


def test_weekdays_are_judged_by_the_local_date_of_the_slot() -> None:
    schedule = daily("01:00", weekdays=["mon"])
    monday = date(2026, 6, 1)
    assert fires_on_day(schedule, KOLKATA, monday) == [utc(2026, 5, 31, 19, 30)]
    assert fires_on_day(schedule, KOLKATA, monday + timedelta(days=1)) == []


def test_next_fire_skips_ahead_to_the_next_allowed_weekday() -> None:
    schedule = daily("06:00", weekdays=["mon"])
    tuesday_noon = utc(2026, 6, 2, 12)
    assert next_fire(schedule, "UTC", tuesday_noon) == utc(2026, 6, 8, 6, 0)


def test_next_fire_is_strictly_after_the_moment_even_when_that_moment_is_a_fire() -> None:
    schedule = daily("06:00", "18:00")
    assert next_fire(schedule, "UTC", utc(2026, 6, 1, 6)) == utc(2026, 6, 1, 18)
    almost = utc(2026, 6, 1, 5, 59, 59) + timedelta(microseconds=999_999)
    assert next_fire(schedule, "UTC", almost) == utc(2026, 6, 1, 6)


def test_next_fire_accepts_any_aware_datetime_and_answers_in_utc() -> None:
    moment = datetime(2026, 6, 1, 7, 30, tzinfo=ZoneInfo(BERLIN))
    fire = next_fire(daily("06:00"), BERLIN, moment)
    assert fire == utc(2026, 6, 2, 4, 0)
    assert fire is not None and fire.tzinfo is UTC


def test_a_schedule_whose_every_slot_is_blacked_out_never_fires() -> None:
    schedule = interval(60, blackout=[{"from": "00:00", "to": "23:59"}])
    assert next_fire(schedule, BERLIN, utc(2026, 6, 1)) is None
    assert fires_on_day(schedule, BERLIN, date(2026, 6, 1)) == []
    assert max_fires_per_day(schedule, BERLIN) == 0


@pytest.mark.parametrize("data", [{"mode": "manual"}, {"mode": "as_needed"}, {"mode": "automatic"}])
def test_modes_that_are_not_clock_modes_never_fire_by_the_clock(data: dict[str, Any]) -> None:
    schedule = validate_schedule(data)
    assert next_fire(schedule, BERLIN, utc(2026, 6, 1)) is None
    assert fires_on_day(schedule, BERLIN, date(2026, 6, 1)) == []
    assert max_fires_per_day(schedule, BERLIN) == 0


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire(interval(5), "UTC", datetime(2026, 6, 1, 12))


def test_max_fires_per_day_counts_the_slots_outside_blackouts() -> None:
    assert max_fires_per_day(interval(15), "UTC") == 96
    assert max_fires_per_day(interval(7), KOLKATA) == 206
    assert max_fires_per_day(daily("06:00", "06:00:00", "07:00"), NEW_YORK) == 2
    assert max_fires_per_day(daily("06:00", weekdays=["sat"]), NEW_YORK) == 1


# --- daylight saving time ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "slot", "fire"),
    [
        (BERLIN, date(2026, 3, 29), "02:30", utc(2026, 3, 29, 1, 0)),
        (NEW_YORK, date(2026, 3, 8), "02:30", utc(2026, 3, 8, 7, 0)),
        (LORD_HOWE, date(2026, 10, 4), "02:15", utc(2026, 10, 3, 15, 30)),
    ],
)
def test_a_time_in_a_dst_gap_fires_once_at_the_first_valid_instant(
    tz: str, day: date, slot: str, fire: datetime
) -> None:
    schedule = daily(slot)
    assert fires_on_day(schedule, tz, day) == [fire]
    assert next_fire(schedule, tz, fire - timedelta(hours=12)) == fire
    assert next_fire(schedule, tz, fire) == fires_on_day(schedule, tz, day + timedelta(days=1))[0]


def test_interval_slots_in_a_dst_gap_collapse_into_one_fire_at_the_end_of_the_gap() -> None:
    fires = fires_on_day(interval(15), BERLIN, date(2026, 3, 29))
    assert len(fires) == 96 - 4
    assert local_times(fires, BERLIN)[6:10] == ["01:30", "01:45", "03:00", "03:15"]
    assert fires[8] == utc(2026, 3, 29, 1, 0)
    assert len(set(fires)) == len(fires) and fires == sorted(fires)


def test_a_half_hour_dst_gap_collapses_the_slots_inside_it() -> None:
    fires = fires_on_day(interval(10), LORD_HOWE, date(2026, 10, 4))
    assert len(fires) == 144 - 3
    assert local_times(fires, LORD_HOWE)[11:14] == ["01:50", "02:30", "02:40"]


@pytest.mark.parametrize(
    ("tz", "day", "slot", "fire"),
    [
        (BERLIN, date(2026, 10, 25), "02:30", utc(2026, 10, 25, 0, 30)),
        (NEW_YORK, date(2026, 11, 1), "01:30", utc(2026, 11, 1, 5, 30)),
        (LORD_HOWE, date(2026, 4, 5), "01:45", utc(2026, 4, 4, 14, 45)),
    ],
)
def test_a_time_in_a_repeated_hour_fires_once_at_its_first_occurrence(
    tz: str, day: date, slot: str, fire: datetime
) -> None:
    schedule = daily(slot)
    assert fires_on_day(schedule, tz, day) == [fire]
    following = next_fire(schedule, tz, fire)
    assert following is not None
    assert following.astimezone(ZoneInfo(tz)).date() == day + timedelta(days=1)


def test_interval_slots_in_a_repeated_hour_fire_once_each() -> None:
    fires = fires_on_day(interval(15), NEW_YORK, date(2026, 11, 1))
    assert len(fires) == 96
    assert fires[-1] - fires[0] == timedelta(hours=24, minutes=45)
    assert local_times(fires, NEW_YORK)[4:9] == ["01:00", "01:15", "01:30", "01:45", "02:00"]


# --- properties -------------------------------------------------------------------------------
#
# Days and moments are drawn per zone, half of them on or next to that zone's DST changes, and
# times of day lean towards 01:00-03:59 where the changes happen, so the DST paths get exercised.


def _clock_seconds(text: str) -> int:
    hours, minutes, *seconds = (int(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + sum(seconds)


def _spell(seconds: int, with_seconds: bool) -> str:
    hours, rest = divmod(seconds, 3600)
    text = f"{hours:02d}:{rest // 60:02d}"
    return f"{text}:{rest % 60:02d}" if with_seconds else text


times_of_day = st.one_of(
    st.builds(_spell, st.integers(0, 1439).map(lambda minute: minute * 60), st.booleans()),
    st.builds(_spell, st.integers(60, 239).map(lambda minute: minute * 60), st.booleans()),
    st.builds(_spell, st.integers(0, 86399), st.just(True)),
)
windows = st.tuples(times_of_day, times_of_day).filter(
    lambda pair: _clock_seconds(pair[0]) != _clock_seconds(pair[1])
)
weekday_choices = st.none() | st.sets(st.sampled_from(WEEKDAYS), min_size=1)
every_minutes = st.one_of(
    st.sampled_from([1, 5, 7, 10, 15, 30, 45, 60, 90, 360, 1440]), st.integers(1, 1440)
)


def _with_weekdays(data: dict[str, Any], weekdays: set[str] | None) -> dict[str, Any]:
    if weekdays is not None:
        data["weekdays"] = sorted(weekdays, key=WEEKDAYS.index)
    return validate_schedule(data)


interval_schedules = st.builds(
    lambda every, blackout, weekdays: _with_weekdays(
        {
            "mode": "interval",
            "every_minutes": every,
            "blackout": [{"from": start, "to": end} for start, end in blackout],
        },
        weekdays,
    ),
    every_minutes,
    st.lists(windows, max_size=3),
    weekday_choices,
)
daily_schedules = st.builds(
    lambda times, weekdays: _with_weekdays({"mode": "daily", "times": times}, weekdays),
    st.lists(times_of_day, min_size=1, max_size=8),
    weekday_choices,
)
clock_schedules = interval_schedules | daily_schedules


def _is_dst_change_day(zone: ZoneInfo, day: date) -> bool:
    start = datetime.combine(day, time(), zone).utcoffset()
    end = datetime.combine(day + timedelta(days=1), time(), zone).utcoffset()
    return start != end


def _dst_change_days(tz: str) -> list[date]:
    zone, day, found = ZoneInfo(tz), date(2024, 1, 1), []
    while day.year < 2029:
        if _is_dst_change_day(zone, day):
            found.append(day)
        day += timedelta(days=1)
    return found


DST_CHANGE_DAYS = {tz: _dst_change_days(tz) for tz in ZONES}


def _days_in(tz: str) -> st.SearchStrategy[date]:
    plain = st.dates(date(2024, 1, 1), date(2028, 12, 31))
    changes = DST_CHANGE_DAYS[tz]
    if not changes:
        return plain
    next_to_changes = [day + timedelta(days=shift) for day in changes for shift in (-1, 1)]
    return st.one_of(plain, st.sampled_from(changes), st.sampled_from(next_to_changes))


def _moments_around(day: date) -> st.SearchStrategy[datetime]:
    return st.builds(
        lambda second, micro: (
            datetime.combine(day, time(), UTC) + timedelta(seconds=second, microseconds=micro)
        ),
        st.integers(-86400, 2 * 86400),
        st.sampled_from([0, 0, 1, 999_999]),
    )


zone_days = st.sampled_from(ZONES).flatmap(lambda tz: st.tuples(st.just(tz), _days_in(tz)))
zone_moments = zone_days.flatmap(lambda pair: st.tuples(st.just(pair[0]), _moments_around(pair[1])))
bounded = settings(max_examples=200, deadline=None)


def _gap_before(fire: datetime, zone: ZoneInfo) -> timedelta:
    """How much wall-clock time was skipped just before `fire` (zero unless clocks sprang ahead)."""
    before = (fire - timedelta(seconds=1)).astimezone(zone).utcoffset()
    after = fire.astimezone(zone).utcoffset()
    assert before is not None and after is not None
    return max(after - before, timedelta(0))


def _seconds_of_day(moment: datetime) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _in_window(second: int, window: dict[str, str]) -> bool:
    start, end = _clock_seconds(window["from"]), _clock_seconds(window["to"])
    return start <= second < end if start < end else second >= start or second < end


def _slots(schedule: dict[str, Any]) -> set[int]:
    """The schedule's slots as seconds after local midnight, worked out from the definition."""
    if schedule["mode"] == "daily":
        return {_clock_seconds(text) for text in schedule["times"]}
    every_s = schedule["every_minutes"] * 60
    return {
        second
        for second in range(0, 86400, every_s)
        if not any(_in_window(second, window) for window in schedule["blackout"])
    }


@bounded
@given(clock_schedules, zone_moments)
def test_the_next_fire_is_strictly_after_the_moment_asked_about(
    schedule: dict[str, Any], zone_moment: tuple[str, datetime]
) -> None:
    tz, after = zone_moment
    fire = next_fire(schedule, tz, after)
    if max_fires_per_day(schedule, tz) == 0:
        assert fire is None
        return
    assert fire is not None and fire > after and fire.tzinfo is UTC
    following = next_fire(schedule, tz, fire)
    assert following is not None and following > fire


def _walk_day(schedule: dict[str, Any], tz: str, day: date) -> list[datetime]:
    """The fires next_fire steps through from the start of local `day` while they are on it."""
    zone = ZoneInfo(tz)
    walked: list[datetime] = []
    start_of_day = datetime.combine(day, time(), zone).astimezone(UTC)
    fire = next_fire(schedule, tz, start_of_day - timedelta(microseconds=1))
    while fire is not None and fire.astimezone(zone).date() == day:
        walked.append(fire)
        fire = next_fire(schedule, tz, fire)
    return walked


@bounded
@given(interval_schedules, zone_days)
def test_fires_are_never_at_a_blacked_out_local_time(
    schedule: dict[str, Any], zone_day: tuple[str, date]
) -> None:
    tz, day = zone_day
    zone = ZoneInfo(tz)
    for fire in _walk_day(schedule, tz, day):
        if _gap_before(fire, zone):
            continue  # stands for a slot inside the gap, whose local time is checked below
        second = _seconds_of_day(fire.astimezone(zone))
        assert not any(_in_window(second, window) for window in schedule["blackout"])


@bounded
@given(clock_schedules, zone_days)
def test_fires_are_at_slots_or_where_clocks_spring_forward_over_one(
    schedule: dict[str, Any], zone_day: tuple[str, date]
) -> None:
    tz, day = zone_day
    zone = ZoneInfo(tz)
    slots = _slots(schedule)
    for fire in _walk_day(schedule, tz, day):
        wall = _seconds_of_day(fire.astimezone(zone))
        skipped_s = int(_gap_before(fire, zone).total_seconds())
        assert any(wall - skipped_s <= slot <= wall for slot in slots)


@bounded
@given(clock_schedules, zone_days)
def test_on_an_allowed_day_without_a_dst_change_every_slot_fires_at_its_local_time(
    schedule: dict[str, Any], zone_day: tuple[str, date]
) -> None:
    tz, day = zone_day
    zone = ZoneInfo(tz)
    if WEEKDAYS[day.weekday()] not in schedule["weekdays"] or _is_dst_change_day(zone, day):
        return
    walls = [_seconds_of_day(fire.astimezone(zone)) for fire in _walk_day(schedule, tz, day)]
    assert walls == sorted(_slots(schedule))


@bounded
@given(clock_schedules, zone_days)
def test_fires_in_a_repeated_hour_are_first_occurrences(
    schedule: dict[str, Any], zone_day: tuple[str, date]
) -> None:
    tz, day = zone_day
    zone = ZoneInfo(tz)
    for fire in _walk_day(schedule, tz, day):
        assert fire.astimezone(zone).replace(fold=0).astimezone(UTC) == fire


@bounded
@given(clock_schedules, zone_days)
def test_fires_fall_on_allowed_weekdays_of_their_local_date(
    schedule: dict[str, Any], zone_day: tuple[str, date]
) -> None:
    tz, day = zone_day
    zone = ZoneInfo(tz)
    fires = _walk_day(schedule, tz, day)
    for fire in fires:
        assert WEEKDAYS[fire.astimezone(zone).weekday()] in schedule["weekdays"]
    allowed = WEEKDAYS[day.weekday()] in schedule["weekdays"]
    assert bool(fires) == (allowed and bool(_slots(schedule)))


@bounded
@given(clock_schedules, zone_days)
def test_a_day_fires_exactly_what_next_fire_walks_through(
    schedule: dict[str, Any], zone_day: tuple[str, date]
) -> None:
    tz, day = zone_day
    planned = fires_on_day(schedule, tz, day)
    assert planned == sorted(set(planned))
    assert _walk_day(schedule, tz, day) == planned


@bounded
@given(clock_schedules, zone_days)
def test_no_day_fires_more_often_than_max_fires_per_day(
    schedule: dict[str, Any], zone_day: tuple[str, date]
) -> None:
    tz, day = zone_day
    fires = fires_on_day(schedule, tz, day)
    most = max_fires_per_day(schedule, tz)
    assert len(fires) <= most
    allowed = WEEKDAYS[day.weekday()] in schedule["weekdays"]
    if allowed and not _is_dst_change_day(ZoneInfo(tz), day):
        assert len(fires) == most
