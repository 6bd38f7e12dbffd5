"""The SLA clock: worked cases and properties across support hours, weekends, Italian holidays
and DST changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mspctl.incidents.businesstime import (
    BusinessCalendar,
    business_minutes,
    country_holidays,
    deadline,
)

ROME = ZoneInfo("Europe/Rome")
WEEK = ["mon", "tue", "wed", "thu", "fri"]


def rome(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ROME)  # type: ignore[misc]


def italy(start: str = "08:00", end: str = "18:00", days: list[str] = WEEK) -> BusinessCalendar:
    return BusinessCalendar.of("Europe/Rome", days, start, end, country_holidays("IT"))


def test_friday_evening_is_due_monday_morning() -> None:
    due = deadline(italy(), rome(2026, 12, 4, 17, 30), 60)
    assert due == rome(2026, 12, 7, 8, 30)


def test_immacolata_is_skipped() -> None:
    # 8 December is a public holiday in Italy: half an hour on the 7th, half on the 9th
    assert deadline(italy(), rome(2026, 12, 7, 17, 30), 60) == rome(2026, 12, 9, 8, 30)


def test_without_holidays_the_8th_is_a_working_day() -> None:
    plain = BusinessCalendar.of("Europe/Rome", WEEK, "08:00", "18:00")
    assert deadline(plain, rome(2026, 12, 7, 17, 30), 60) == rome(2026, 12, 8, 8, 30)


def test_inside_hours_and_before_opening() -> None:
    assert deadline(italy(), rome(2026, 12, 2, 10, 0), 120) == rome(2026, 12, 2, 12, 0)
    assert deadline(italy(), rome(2026, 12, 2, 6, 0), 60) == rome(2026, 12, 2, 9, 0)
    assert deadline(italy(), rome(2026, 12, 2, 6, 0), 0) == rome(2026, 12, 2, 8, 0)


def test_dst_weekend_in_march() -> None:
    # Europe/Rome springs forward on Sunday 29 March 2026: Friday 17:30 CET + 60 min is Monday
    # 08:30 CEST, 63 wall-clock hours later but 62 real hours
    start = rome(2026, 3, 27, 17, 30)
    due = deadline(italy(), start, 60)
    assert due == rome(2026, 3, 30, 8, 30)
    assert due.tzinfo is dt.UTC
    assert due - start == dt.timedelta(hours=62)


def test_support_hours_across_a_dst_change_count_real_minutes() -> None:
    # a 00:00-06:00 support day on 29 March 2026 lasts 5 real hours (02:00 is skipped)
    night = BusinessCalendar.of("Europe/Rome", ["sun"], "00:00", "06:00")
    opens, closes = night.window(dt.date(2026, 3, 29))
    assert closes - opens == dt.timedelta(hours=5)
    assert business_minutes(night, opens, closes) == 300
    autumn = night.window(dt.date(2026, 10, 25))
    assert autumn[1] - autumn[0] == dt.timedelta(hours=7)


def test_business_minutes_worked() -> None:
    assert business_minutes(italy(), rome(2026, 12, 4, 17, 30), rome(2026, 12, 7, 8, 30)) == 60
    assert business_minutes(italy(), rome(2026, 12, 7, 9, 0), rome(2026, 12, 7, 8, 0)) == 0


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="naive"):
        deadline(italy(), dt.datetime(2026, 12, 7, 9, 0), 60)
    with pytest.raises(ValueError, match="negative"):
        deadline(italy(), rome(2026, 12, 7, 9, 0), -1)
    with pytest.raises(ValueError, match="country"):
        country_holidays("XX")
    with pytest.raises(ValueError, match="after start"):
        BusinessCalendar.of("UTC", WEEK, "18:00", "08:00")


# -- properties -------------------------------------------------------------------------------
ZONES = ["Europe/Rome", "Europe/London", "America/New_York", "Australia/Sydney", "UTC"]
hours = st.integers(min_value=0, max_value=23)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    first = draw(hours)
    last = draw(st.integers(min_value=first + 1, max_value=24))
    days = draw(st.lists(st.sampled_from([*WEEK, "sat", "sun"]), min_size=1, unique=True))
    zone = draw(st.sampled_from(ZONES))
    start = dt.time(first, draw(st.sampled_from([0, 30])))
    end = dt.time(23, 59) if last == 24 else dt.time(last)
    if end <= start:
        end = dt.time(23, 59)
    country = draw(st.sampled_from([None, "IT"]))
    return BusinessCalendar(
        ZoneInfo(zone),
        frozenset(("mon", "tue", "wed", "thu", "fri", "sat", "sun").index(d) for d in days),
        start,
        end,
        country_holidays(country) if country else frozenset(),
    )


instants = st.datetimes(
    min_value=dt.datetime(2025, 1, 1),
    max_value=dt.datetime(2028, 12, 31),
    timezones=st.just(dt.UTC),
)
minutes = st.integers(min_value=0, max_value=5 * 24 * 60)


@settings(max_examples=300, deadline=None)
@given(calendars(), instants, minutes)
def test_the_deadline_uses_exactly_the_sla(
    cal: BusinessCalendar, start: dt.datetime, sla: int
) -> None:
    due = deadline(cal, start, sla)
    assert due >= start
    assert business_minutes(cal, start, due) == pytest.approx(sla, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(calendars(), instants, st.integers(min_value=1, max_value=5 * 24 * 60))
def test_the_deadline_falls_inside_support_hours(
    cal: BusinessCalendar, start: dt.datetime, sla: int
) -> None:
    due = deadline(cal, start, sla).astimezone(cal.timezone)
    day = due.date()
    opens, closes = cal.window(day)
    assert cal.is_business_day(day)
    assert opens < due.astimezone(dt.UTC) <= closes


@settings(max_examples=200, deadline=None)
@given(calendars(), instants, instants, minutes)
def test_a_later_alert_is_never_due_earlier(
    cal: BusinessCalendar, a: dt.datetime, b: dt.datetime, sla: int
) -> None:
    first, second = sorted([a, b])
    assert deadline(cal, first, sla) <= deadline(cal, second, sla)


@settings(max_examples=200, deadline=None)
@given(calendars(), instants, instants, instants)
def test_business_minutes_add_up(
    cal: BusinessCalendar, a: dt.datetime, b: dt.datetime, c: dt.datetime
) -> None:
    x, y, z = sorted([a, b, c])
    if (z - x) > dt.timedelta(days=60):
        z = x + dt.timedelta(days=60)
        y = min(y, z)
    total = business_minutes(cal, x, z)
    assert total == pytest.approx(business_minutes(cal, x, y) + business_minutes(cal, y, z))
    assert 0 <= total <= (z - x).total_seconds() / 60 + 1e-9
