"""Patch-window engine: plugins/module_utils/patch_window.py and the mspctl_patch_window filter.

Example tests pin the documented semantics; hypothesis tests compare the engine with a
slow brute-force reference (day by day, its own rule matching and wall-clock resolution)
across random IANA zones, instants near real DST transitions (2000-2040), Nth-weekday
rules and blackout dates.
"""

from __future__ import annotations

import calendar
import functools
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
from ansible_collections.mspctl.policy.plugins.module_utils import patch_window as pw
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

PARIS = "Europe/Paris"


def window(**overrides: Any) -> Any:
    spec: dict[str, Any] = {
        "days": ["sat"],
        "start": "22:00",
        "duration": "4h",
        "timezone": PARIS,
    }
    spec.update(overrides)
    return pw.parse_window(spec)


def at(text: str) -> datetime:
    instant: datetime = pw.parse_instant(text)
    return instant


def local(text: str, tz: str = PARIS) -> datetime:
    """An unambiguous local wall-clock time, as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


# --------------------------------------------------------------------------- examples


class TestMidnightCrossing:
    w = window()  # Saturday 22:00 for 4h, Europe/Paris

    @pytest.mark.parametrize(
        ("wall", "expected"),
        [
            ("2026-03-07T21:59:59", False),
            ("2026-03-07T22:00:00", True),
            ("2026-03-07T23:59:59", True),
            ("2026-03-08T00:00:00", True),
            ("2026-03-08T01:59:59", True),
            ("2026-03-08T02:00:00", False),  # half-open: closed at start + duration
            ("2026-03-08T22:30:00", False),  # Sunday is not a window day
        ],
    )
    def test_open_until_2am_sunday(self, wall: str, expected: bool) -> None:
        assert pw.is_open(self.w, local(wall)) is expected

    def test_occurrence_spans_midnight(self) -> None:
        occurrence = pw.current_or_next_occurrence(self.w, local("2026-03-08T01:00:00"))
        assert occurrence == (local("2026-03-07T22:00:00"), local("2026-03-08T02:00:00"))

    def test_closed_reports_next(self) -> None:
        status = pw.evaluate(self.w, local("2026-03-08T02:00:00"))
        assert status == {
            "open": False,
            "reason": "outside window",
            "now": "2026-03-08T01:00:00+00:00",
            "timezone": PARIS,
            "current": None,
            "next_start": "2026-03-14T21:00:00+00:00",
            "next_end": "2026-03-15T01:00:00+00:00",
            "next_start_local": "2026-03-14T22:00:00+01:00",
            "next_end_local": "2026-03-15T02:00:00+01:00",
        }
        assert json.loads(json.dumps(status)) == status

    def test_open_reports_current_and_the_one_after(self) -> None:
        status = pw.evaluate(self.w, local("2026-03-07T23:00:00"))
        assert status["open"] is True
        assert status["reason"] == "inside window"
        assert status["current"] == {
            "start": "2026-03-07T21:00:00+00:00",
            "end": "2026-03-08T01:00:00+00:00",
            "start_local": "2026-03-07T22:00:00+01:00",
            "end_local": "2026-03-08T02:00:00+01:00",
        }
        assert status["next_start"] == "2026-03-14T21:00:00+00:00"

    def test_two_days(self) -> None:
        w = window(days=["sat", "sun"])
        assert pw.is_open(w, local("2026-03-08T23:00:00"))
        assert pw.is_open(w, local("2026-03-09T01:30:00"))  # Sunday's run into Monday
        assert not pw.is_open(w, local("2026-03-09T22:30:00"))

    def test_duplicate_days_count_once(self) -> None:
        w = window(days=["sat", "daily", "1st sat", "Saturday"])
        assert [str(rule) for rule in w.days] == ["sat", "daily", "1st sat"]
        occurrence = pw.current_or_next_occurrence(w, local("2026-03-07T12:00:00"))
        assert occurrence.start_utc == local("2026-03-07T22:00:00")


# Patch Tuesday (2nd Tuesday) and last/4th Tuesday in 2026; March, June, September and
# December have five Tuesdays, so "last" and "4th" differ there.
TUESDAYS_2026 = {  # month: (2nd, 4th, last)
    1: (13, 27, 27), 2: (10, 24, 24), 3: (10, 24, 31), 4: (14, 28, 28),
    5: (12, 26, 26), 6: (9, 23, 30), 7: (14, 28, 28), 8: (11, 25, 25),
    9: (8, 22, 29), 10: (13, 27, 27), 11: (10, 24, 24), 12: (8, 22, 29),
}  # fmt: skip


class TestNthWeekday:
    @pytest.mark.parametrize("month", range(1, 13))
    @pytest.mark.parametrize(("token", "index"), [("2nd tue", 0), ("4th tue", 1), ("last tue", 2)])
    def test_tuesdays_2026(self, month: int, token: str, index: int) -> None:
        w = window(days=[token], start="19:00", duration="3h", timezone="America/New_York")
        new_york = "America/New_York"
        first = local(f"2026-{month:02d}-01T00:00:00", new_york)
        start = pw.current_or_next_occurrence(w, first).start_utc.astimezone(ZoneInfo(new_york))
        assert (start.month, start.day, start.time()) == (
            month,
            TUESDAYS_2026[month][index],
            time(19, 0),
        )

    def test_five_tuesday_month_has_no_fifth_rule_but_last_works(self) -> None:
        w = window(days=["last tue"], start="01:00", duration="1h")
        assert pw.is_open(w, local("2026-03-31T01:30:00"))
        assert not pw.is_open(w, local("2026-03-24T01:30:00"))
        with pytest.raises(pw.WindowError) as caught:
            window(days=["5th tue"])
        assert caught.value.key == "days"

    def test_last_friday_of_december(self) -> None:
        w = window(days=["last fri"], start="20:00", duration="2h")
        occurrence = pw.current_or_next_occurrence(w, local("2026-12-01T00:00:00"))
        assert occurrence.start_utc == local("2026-12-25T20:00:00")

    def test_first_weekday_falls_on_the_first(self) -> None:
        w = window(days=["1st tue"], start="00:00", duration="30m")
        occurrence = pw.current_or_next_occurrence(w, local("2026-11-27T00:00:00"))
        assert occurrence.start_utc == local("2026-12-01T00:00:00")


class TestDst:
    def test_spring_forward_gap_starts_at_end_of_gap(self) -> None:
        # Paris skips 02:00-03:00 on 2026-03-29: a 02:30 start begins at 03:00 CEST.
        w = window(days=["daily"], start="02:30", duration="1h")
        occurrence = pw.current_or_next_occurrence(w, at("2026-03-28T12:00:00Z"))
        assert occurrence == (at("2026-03-29T01:00:00Z"), at("2026-03-29T02:00:00Z"))
        assert occurrence.start_utc.astimezone(ZoneInfo(PARIS)).time() == time(3, 0)
        following = pw.current_or_next_occurrence(w, at("2026-03-29T12:00:00Z"))
        assert following.start_utc == at("2026-03-30T00:30:00Z")  # 02:30 CEST again

    def test_fall_back_takes_first_occurrence(self) -> None:
        # 02:30 happens twice on 2026-10-25 in Paris (CEST, then CET): take the first.
        w = window(days=["sun"], start="02:30", duration="1h")
        occurrence = pw.current_or_next_occurrence(w, at("2026-10-24T12:00:00Z"))
        assert occurrence == (at("2026-10-25T00:30:00Z"), at("2026-10-25T01:30:00Z"))
        status = pw.evaluate(w, at("2026-10-24T12:00:00Z"))
        assert status["next_start_local"] == "2026-10-25T02:30:00+02:00"
        assert status["next_end_local"] == "2026-10-25T02:30:00+01:00"

    @pytest.mark.parametrize("day", ["2026-03-28", "2026-10-24"])
    def test_duration_is_elapsed_time_across_a_change(self, day: str) -> None:
        w = window(days=["sat"], start="23:00", duration="4h")
        occurrence = pw.current_or_next_occurrence(w, local(f"{day}T12:00:00"))
        assert occurrence.end_utc - occurrence.start_utc == timedelta(hours=4)
        end_wall = occurrence.end_utc.astimezone(ZoneInfo(PARIS)).time()
        assert end_wall == (time(4, 0) if day.endswith("28") else time(2, 0))

    def test_new_york_gap(self) -> None:
        w = window(days=["2nd sun"], start="02:15", duration="90m", timezone="America/New_York")
        occurrence = pw.current_or_next_occurrence(w, at("2026-03-01T00:00:00Z"))
        assert occurrence.start_utc == at("2026-03-08T07:00:00Z")  # 03:00 EDT

    def test_skipped_calendar_day(self) -> None:
        # Samoa skipped Friday 2011-12-30 entirely: that Friday's window starts when the
        # gap ends, Saturday 00:00 local.
        w = window(days=["fri"], start="22:00", duration="1h", timezone="Pacific/Apia")
        occurrence = pw.current_or_next_occurrence(w, at("2011-12-28T00:00:00Z"))
        local_start = occurrence.start_utc.astimezone(ZoneInfo("Pacific/Apia"))
        assert local_start.replace(tzinfo=None) == datetime(2011, 12, 31, 0, 0)
        blacked = window(
            days=["fri"],
            start="22:00",
            duration="1h",
            timezone="Pacific/Apia",
            blackout_dates=["2011-12-30"],  # the date it was scheduled on
        )
        assert pw.current_or_next_occurrence(blacked, at("2011-12-28T00:00:00Z")).start_utc > (
            occurrence.start_utc + timedelta(days=5)
        )


class TestBlackouts:
    holidays = window(
        days=["sat", "sun"],
        blackout_dates=["2026-12-12", {"from": "2026-12-20", "to": "2027-01-02"}],
    )

    def test_single_date_reports_blackout(self) -> None:
        status = pw.evaluate(self.holidays, local("2026-12-12T23:00:00"))
        assert (status["open"], status["reason"], status["current"]) == (False, "blackout", None)
        assert status["next_start"] == local("2026-12-13T22:00:00").isoformat()

    def test_occurrence_starting_before_a_blackout_runs_into_it(self) -> None:
        # Saturday 12-19 22:00 starts outside the range and may run to 12-20 02:00.
        assert pw.is_open(self.holidays, local("2026-12-20T01:00:00"))

    def test_range_is_inclusive_and_skipped(self) -> None:
        for wall in ("2026-12-20T23:00:00", "2027-01-02T23:00:00"):
            assert not pw.is_open(self.holidays, local(wall))
        occurrence = pw.current_or_next_occurrence(self.holidays, local("2026-12-20T12:00:00"))
        assert occurrence.start_utc == local("2027-01-03T22:00:00")

    def test_outside_any_occurrence_is_not_reported_as_blackout(self) -> None:
        status = pw.evaluate(self.holidays, local("2026-12-22T12:00:00"))  # a Tuesday
        assert status["reason"] == "outside window"

    def test_dates_may_be_date_objects(self) -> None:
        # YAML (and Ansible) load unquoted 2026-12-25 as a date.
        w = window(
            blackout_dates=[date(2026, 3, 7), {"from": date(2026, 3, 14), "to": "2026-03-14"}]
        )
        occurrence = pw.current_or_next_occurrence(w, local("2026-03-02T00:00:00"))
        assert occurrence.start_utc == local("2026-03-21T22:00:00")

    def test_blackout_to_the_end_of_time_means_no_next(self) -> None:
        w = window(blackout_dates=[{"from": "2026-01-01", "to": "9999-12-31"}])
        assert pw.current_or_next_occurrence(w, local("2026-03-01T00:00:00")) is None
        status = pw.evaluate(w, local("2026-03-01T00:00:00"))
        assert (status["open"], status["next_start"], status["next_end"]) == (False, None, None)


BASE = {"days": ["sat"], "start": "22:00", "duration": "4h", "timezone": PARIS}


@pytest.mark.parametrize(
    ("change", "key", "fragment"),
    [
        ({"days": ["funday"]}, "days", "unknown day 'funday'"),
        ({"days": ["5th tue"]}, "days", "unknown day"),
        ({"days": ["2nd"]}, "days", "unknown day"),
        ({"days": []}, "days", "non-empty list"),
        ({"days": [3]}, "days", "not a string"),
        ({"start": "25:00"}, "start", "not a valid time"),
        ({"start": "22:60"}, "start", "not a valid time"),
        ({"start": "10pm"}, "start", "HH:MM"),
        ({"start": 1320}, "start", "quote it"),  # what YAML 1.1 makes of an unquoted 22:00
        ({"duration": "0m"}, "duration", "more than 0"),
        ({"duration": "24h1m"}, "duration", "at most 24h"),
        ({"duration": "4 hours"}, "duration", "'4 hours'"),
        ({"duration": 4}, "duration", "expected"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "unknown time zone"),
        ({"timezone": "../../etc/passwd"}, "timezone", "unknown time zone"),
        ({"timezone": 1}, "timezone", "IANA"),
        ({"blackout_dates": ["2026-02-30"]}, "blackout_dates", "ISO date"),
        ({"blackout_dates": "2026-12-25"}, "blackout_dates", "list"),
        (
            {"blackout_dates": [{"from": "2026-12-31", "to": "2026-12-01"}]},
            "blackout_dates",
            "inverted range",
        ),
        (
            {
                "blackout_dates": [
                    {"from": "2026-12-20", "to": "2027-01-02"},
                    {"from": "2027-01-02", "to": "2027-01-05"},
                ]
            },
            "blackout_dates",
            "2026-12-20..2027-01-02 overlaps 2027-01-02..2027-01-05",
        ),
        ({"blackout_dates": ["2026-12-25", "2026-12-25"]}, "blackout_dates", "overlaps"),
        ({"blackout_dates": [{"from": "2026-12-20"}]}, "blackout_dates", "'from' and 'to'"),
        (
            {"blackout_dates": [datetime(2026, 12, 25, 10, tzinfo=UTC)]},
            "blackout_dates",
            "date and time",
        ),
        ({"blackouts": []}, "blackouts", "unknown key"),
        ({"timezone": None}, "timezone", "required"),
    ],
)
def test_errors_name_their_key(change: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(pw.WindowError) as caught:
        pw.parse_window({**BASE, **change})
    assert caught.value.key == key
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f"{key}: ")


def test_missing_key_and_non_mapping() -> None:
    spec = dict(BASE)
    del spec["duration"]
    with pytest.raises(pw.WindowError, match=r"^duration: is required"):
        pw.parse_window(spec)
    with pytest.raises(pw.WindowError, match=r"^window: expected a mapping"):
        pw.parse_window(["sat"])


@pytest.mark.parametrize(
    ("text", "expected"), [("90m", 90), ("4h", 240), ("1h30m", 90), ("1h 30m", 90), ("24h", 1440)]
)
def test_durations(text: str, expected: int) -> None:
    assert window(duration=text).duration == timedelta(minutes=expected)


def test_accepted_spellings() -> None:
    w = window(days=" Last  FRIDAY ", start=" 7:05 ", blackout_dates=None)
    assert (w.days, w.start, w.blackouts) == ((pw.DayRule(4, -1),), time(7, 5), ())


class TestInstants:
    def test_parse_instant(self) -> None:
        assert at("2026-03-07T22:00:00Z") == datetime(2026, 3, 7, 22, tzinfo=UTC)
        assert at("2026-03-07T23:00:00+01:00") == datetime(2026, 3, 7, 22, tzinfo=UTC)
        with pytest.raises(ValueError, match="no UTC offset"):
            at("2026-03-07T22:00:00")
        with pytest.raises(ValueError, match="not an ISO 8601"):
            at("saturday night")

    def test_naive_now_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            pw.is_open(window(), datetime(2026, 3, 7, 22))

    def test_now_outside_supported_years(self) -> None:
        with pytest.raises(ValueError, match="supported years"):
            pw.evaluate(window(), datetime(9999, 12, 31, tzinfo=UTC))


# --------------------------------------------------------------------------- properties

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ORDINALS = ("1st", "2nd", "3rd", "4th", "last")
ZONES = sorted(available_timezones() - {"localtime"})
# Zones with DST, among them unusual changes: 30-minute and 2-hour shifts, a skipped day,
# southern-hemisphere and "negative" DST, DST abolished or introduced within 2000-2040.
TRICKY_ZONES = [
    "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Antarctica/Troll",
    "Pacific/Apia", "Australia/Sydney", "America/Santiago", "Asia/Tehran", "Africa/Cairo",
    "Europe/Moscow", "America/Sao_Paulo", "Pacific/Chatham", "Asia/Gaza", "Africa/Casablanca",
    "Europe/London", "Europe/Dublin", "America/St_Johns", "America/Havana", "Asia/Jerusalem",
    "Pacific/Auckland", "America/Chicago",
]  # fmt: skip
YEARS = (2000, 2040)


@functools.cache
def transitions(tz_name: str, year: int) -> tuple[datetime, ...]:
    """UTC instants in ``year`` at which ``tz_name`` changes its UTC offset (to the second)."""
    tz = ZoneInfo(tz_name)
    found = []
    step = timedelta(hours=6)
    moment = datetime(year, 1, 1, tzinfo=UTC)
    offset = moment.astimezone(tz).utcoffset()
    while moment.year == year:
        following = moment + step
        following_offset = following.astimezone(tz).utcoffset()
        if following_offset != offset:
            low, high = int(moment.timestamp()), int(following.timestamp())
            while high - low > 1:
                middle = (low + high) // 2
                middle_offset = datetime.fromtimestamp(middle, tz).utcoffset()
                low, high = (middle, high) if middle_offset == offset else (low, middle)
            found.append(datetime.fromtimestamp(high, UTC))
        moment, offset = following, following_offset
    return tuple(found)


def ref_matches(token: str, day: date) -> bool:
    """Day-rule matching, counted the slow way."""
    words = token.split()
    if words == ["daily"]:
        return True
    weekday = WEEKDAYS.index(words[-1])
    if day.weekday() != weekday:
        return False
    if len(words) == 1:
        return True
    same = [d for d in range(1, day.day + 1) if date(day.year, day.month, d).weekday() == weekday]
    if words[0] == "last":
        return (day + timedelta(days=7)).month != day.month
    return len(same) == ORDINALS.index(words[0]) + 1


def ref_start(day: date, start: time, tz: ZoneInfo) -> tuple[datetime, bool]:
    """UTC start of wall time ``day start`` and whether it fell in a gap (slow way)."""
    naive = datetime.combine(day, start)
    readings = [naive.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)]
    valid = [r for r in readings if r.astimezone(tz).replace(tzinfo=None) == naive]
    if valid:
        return min(valid), False
    # In a gap: walk forward a minute at a time to the first instant past it.
    moment = min(readings) - timedelta(minutes=1)
    while moment.astimezone(tz).replace(tzinfo=None) < naive:
        moment += timedelta(minutes=1)
    while (moment - timedelta(seconds=1)).astimezone(tz).replace(tzinfo=None) >= naive:
        moment -= timedelta(seconds=1)
    return moment, True


@dataclass(frozen=True)
class Ref:
    day: date
    start: datetime
    end: datetime
    gap: bool
    blacked: bool

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def ref_blackouts(spec: dict[str, Any]) -> list[tuple[date, date]]:
    ranges = []
    for item in spec.get("blackout_dates", []):
        if isinstance(item, dict):
            ranges.append((date.fromisoformat(item["from"]), date.fromisoformat(item["to"])))
        else:
            ranges.append((date.fromisoformat(item), date.fromisoformat(item)))
    return ranges


def ref_occurrences(spec: dict[str, Any], first: date, last: date) -> list[Ref]:
    tz = ZoneInfo(spec["timezone"])
    hours, _, minutes = spec["start"].partition(":")
    start = time(int(hours), int(minutes))
    duration = pw.parse_window(spec).duration
    blackouts = ref_blackouts(spec)
    refs = []
    day = first
    while day <= last:
        if any(ref_matches(token, day) for token in spec["days"]):
            moment, gap = ref_start(day, start, tz)
            blacked = any(a <= day <= b for a, b in blackouts)
            refs.append(Ref(day, moment, moment + duration, gap, blacked))
        day += timedelta(days=1)
    return refs


day_tokens = st.one_of(
    st.just("daily"),
    st.sampled_from(WEEKDAYS),
    st.builds(lambda n, d: f"{n} {d}", st.sampled_from(ORDINALS), st.sampled_from(WEEKDAYS)),
)
durations = st.one_of(
    st.sampled_from([30, 60, 90, 120, 240, 360, 480, 720, 1380, 1440]), st.integers(1, 1440)
)


def fmt_duration(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{rest}m" if rest else "")


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], datetime]:
    """A window spec and an instant, often within days of one of the zone's offset changes."""
    mode = draw(st.sampled_from(("aim at a change", "near a change", "anywhere")))
    zones = st.sampled_from(TRICKY_ZONES)
    tz_name = draw(zones if mode != "anywhere" else st.one_of(zones, st.sampled_from(ZONES)))
    tz = ZoneInfo(tz_name)
    year = draw(st.integers(*YEARS))
    changes = transitions(tz_name, year)
    tokens = draw(st.lists(day_tokens, min_size=1, max_size=3))
    if mode == "anywhere" or not changes:
        now = datetime(year, 1, 1, tzinfo=UTC) + timedelta(
            seconds=draw(st.integers(0, 366 * 86400))
        )
        start = draw(st.times())
    else:
        change = draw(st.sampled_from(changes))
        # The wall-clock time at which the change happens (before it takes effect).
        wall = (change - timedelta(seconds=1)).astimezone(tz) + timedelta(seconds=1)
        if mode == "aim at a change":
            # Start at or around the wall-clock times it skips or repeats, on its date,
            # and look from shortly before to a day after it.
            shift = draw(st.one_of(st.integers(0, 59), st.integers(-180, 180)))
            start = (wall + timedelta(minutes=shift)).time()
            tokens.append(draw(st.sampled_from(["daily", WEEKDAYS[wall.weekday()]])))
            now = change + timedelta(seconds=draw(st.integers(-6 * 3600, 30 * 3600)))
        else:
            start = draw(st.times())
            now = change + timedelta(seconds=draw(st.integers(-3 * 86400, 3 * 86400)))
    today = now.astimezone(tz).date()
    blackouts: list[Any] = []
    taken: list[tuple[date, date]] = []
    for offset, length in draw(
        st.lists(st.tuples(st.integers(-5, 40), st.integers(0, 14)), max_size=3)
    ):
        first, last = today + timedelta(days=offset), today + timedelta(days=offset + length)
        if any(first <= b and a <= last for a, b in taken):
            continue
        taken.append((first, last))
        blackouts.append(
            first.isoformat()
            if length == 0 and draw(st.booleans())
            else {"from": first.isoformat(), "to": last.isoformat()}
        )
    spec = {
        "days": tokens,
        "start": f"{start.hour:02d}:{start.minute:02d}",
        "duration": fmt_duration(draw(durations)),
        "timezone": tz_name,
        "blackout_dates": blackouts,
    }
    return spec, now


PROPERTY_SETTINGS = settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(scenarios())
@example(  # Samoa's skipped Friday
    ({"days": ["fri"], "start": "22:00", "duration": "2h", "timezone": "Pacific/Apia"},
     datetime(2011, 12, 30, 9, tzinfo=UTC)),
)  # fmt: skip
@example(  # a 24h daily window overlapping the next one across a spring-forward change
    ({"days": ["daily"], "start": "01:00", "duration": "24h", "timezone": PARIS},
     datetime(2026, 3, 29, 23, 30, tzinfo=UTC)),
)  # fmt: skip
def test_matches_brute_force_reference(scenario: tuple[dict[str, Any], datetime]) -> None:
    """is_open, current, next and reason agree with a day-by-day reference."""
    spec, now = scenario
    w = pw.parse_window(spec)
    tz = ZoneInfo(spec["timezone"])
    status = pw.evaluate(w, now)
    occurrence = pw.current_or_next_occurrence(w, now)
    assert occurrence is not None  # blackouts here are finite
    today = now.astimezone(tz).date()
    assert status["next_start"] is not None
    next_day = datetime.fromisoformat(status["next_start"]).astimezone(tz).date()
    last_day = max(today, next_day) + timedelta(days=2)
    refs = ref_occurrences(spec, today - timedelta(days=3), last_day)

    containing = [r for r in refs if r.contains(now) and not r.blacked]
    event(f"open={bool(containing)}")
    event(f"gap occurrences nearby={any(r.gap for r in refs)}")
    event(f"blacked-out occurrences nearby={any(r.blacked for r in refs)}")
    event(f"overlapping occurrences={any(a.end > b.start for a, b in itertools.pairwise(refs))}")
    assert pw.is_open(w, now) is status["open"] is bool(containing)
    upcoming = min((r for r in refs if r.start > now and not r.blacked), key=lambda r: r.start)
    assert status["next_start"] == upcoming.start.isoformat()
    assert status["next_end"] == upcoming.end.isoformat()
    if containing:
        latest = max(containing, key=lambda r: r.start)
        assert occurrence == (latest.start, latest.end)
        assert status["current"]["start"] == latest.start.isoformat()
        assert status["reason"] == "inside window"
    else:
        # Closed: the next occurrence is strictly later and nothing starts before it.
        assert occurrence == (upcoming.start, upcoming.end)
        assert occurrence.start_utc > now
        assert status["current"] is None
        blacked = any(r.contains(now) and r.blacked for r in refs)
        assert status["reason"] == ("blackout" if blacked else "outside window")


@PROPERTY_SETTINGS
@given(scenarios())
def test_occurrence_shape(scenario: tuple[dict[str, Any], datetime]) -> None:
    """The returned occurrence has the spec's length, day rule and start time, and no blackout."""
    spec, now = scenario
    w = pw.parse_window(spec)
    tz = ZoneInfo(spec["timezone"])
    occurrence = pw.current_or_next_occurrence(w, now)
    assert occurrence is not None
    assert pw.is_open(w, now) == occurrence.contains(now)
    assert occurrence.end_utc - occurrence.start_utc == w.duration

    start_local = occurrence.start_utc.astimezone(tz)
    # The date it was scheduled on: the start's local date, or the day before when a
    # DST gap (up to a whole skipped day) pushed it past midnight.
    scheduled = [
        (d, gap)
        for d in (start_local.date(), start_local.date() - timedelta(days=1))
        for moment, gap in [ref_start(d, w.start, tz)]
        if moment == occurrence.start_utc
        and any(ref_matches(token, d) for token in spec["days"])
        and not any(a <= d <= b for a, b in ref_blackouts(spec))
    ]
    assert scheduled
    day, gap = scheduled[0]
    event(f"start in a DST gap={gap}")
    assert not pw.is_blacked_out(w, day)
    wall = start_local.replace(tzinfo=None)
    if not gap:
        # On the wall clock at the spec's start time, and its first reading (fold=0).
        assert wall == datetime.combine(day, w.start)
        assert all(
            (occurrence.start_utc - timedelta(minutes=m)).astimezone(tz).replace(tzinfo=None)
            != wall
            for m in range(1, 181)
        )
    else:
        # The documented gap case: the start time did not exist on that date, so the
        # occurrence starts at the very transition that skipped it.
        before = (occurrence.start_utc - timedelta(seconds=1)).astimezone(tz)
        assert before.utcoffset() < start_local.utcoffset()
        assert before.replace(tzinfo=None) < datetime.combine(day, w.start) < wall
    status = pw.evaluate(w, now)
    assert json.loads(json.dumps(status)) == status


@settings(max_examples=200, deadline=None)
@given(
    year=st.integers(*YEARS),
    month=st.integers(1, 12),
    weekday=st.integers(0, 6),
    tz_name=st.sampled_from(TRICKY_ZONES),
)
def test_nth_weekday_rules(year: int, month: int, weekday: int, tz_name: str) -> None:
    """'1st'..'4th' select that weekday's Nth date in the month, 'last' its final one."""
    days_in_month = calendar.monthrange(year, month)[1]
    dates = [
        date(year, month, d)
        for d in range(1, days_in_month + 1)
        if date(year, month, d).weekday() == weekday
    ]
    assert len(dates) in (4, 5)
    for index, ordinal in enumerate(ORDINALS):
        expected = dates[-1] if ordinal == "last" else dates[index]
        w = pw.parse_window(
            {
                "days": [f"{ordinal} {WEEKDAYS[weekday]}"],
                "start": "12:00",
                "duration": "1h",
                "timezone": tz_name,
            }
        )
        matched = [d for d in dates if pw.occurrence_on(w, d) is not None]
        assert matched == [expected]
        first = datetime(year, month, 1, tzinfo=ZoneInfo(tz_name)).astimezone(UTC)
        occurrence = pw.current_or_next_occurrence(w, first)
        assert occurrence.start_utc.astimezone(ZoneInfo(tz_name)).date() == expected


@settings(max_examples=200, deadline=None)
@given(hours=st.integers(0, 24), minutes=st.integers(0, 1500), spaced=st.booleans())
def test_duration_parsing(hours: int, minutes: int, spaced: bool) -> None:
    text = f"{hours}h{' ' if spaced else ''}{minutes}m"
    total = timedelta(hours=hours, minutes=minutes)
    if timedelta(0) < total <= timedelta(hours=24):
        assert window(duration=text).duration == total
    else:
        with pytest.raises(pw.WindowError) as caught:
            window(duration=text)
        assert caught.value.key == "duration"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_unknown_day_tokens_name_days(token: str) -> None:
    normalized = " ".join(token.lower().split())
    valid = normalized == "daily" or any(
        normalized in (day, full)
        or normalized in {f"{o} {day}" for o in ORDINALS}
        or normalized in {f"{o} {full}" for o in ORDINALS}
        for day, full in zip(WEEKDAYS, FULL_WEEKDAYS, strict=True)
    )
    if valid:
        window(days=[token])
    else:
        with pytest.raises(pw.WindowError) as caught:
            window(days=[token])
        assert caught.value.key == "days"


# --------------------------------------------------------------------------- one-off windows


class TestOneOffWindow:
    """A spec with ``date`` instead of ``days``: one occurrence, same DST rules."""

    def one_off(self, **overrides: Any) -> Any:
        spec: dict[str, Any] = {
            "date": "2026-12-19",
            "start": "18:00",
            "duration": "3h",
            "timezone": PARIS,
        }
        spec.update(overrides)
        return pw.parse_window(spec)

    @pytest.mark.parametrize(
        ("wall", "expected"),
        [
            ("2026-12-19T17:59:59", False),
            ("2026-12-19T18:00:00", True),
            ("2026-12-19T20:59:59", True),
            ("2026-12-19T21:00:00", False),
            ("2026-12-26T19:00:00", False),  # same weekday a week later: not a recurrence
            ("2025-12-19T19:00:00", False),
        ],
    )
    def test_open_only_on_its_date(self, wall: str, expected: bool) -> None:
        assert pw.is_open(self.one_off(), local(wall)) is expected

    def test_next_occurrence_then_none_after_it(self) -> None:
        w = self.one_off()
        before = pw.current_or_next_occurrence(w, local("2026-12-01T00:00:00"))
        assert before == (local("2026-12-19T18:00:00"), local("2026-12-19T21:00:00"))
        assert pw.current_or_next_occurrence(w, local("2026-12-19T21:00:00")) is None
        status = pw.evaluate(w, local("2027-01-01T00:00:00"))
        assert status["open"] is False and status["next_start"] is None

    def test_dst_gap_start_moves_to_the_transition(self) -> None:
        # 2026-03-29 Europe/Paris: 02:00 -> 03:00
        w = self.one_off(date="2026-03-29", start="02:30", duration="1h")
        occurrence = pw.current_or_next_occurrence(w, local("2026-03-28T12:00:00"))
        assert occurrence is not None
        assert occurrence.start_utc == at("2026-03-29T01:00:00Z")
        assert occurrence.end_utc - occurrence.start_utc == timedelta(hours=1)

    def test_dst_overlap_uses_the_first_reading(self) -> None:
        # 2026-10-25 Europe/Paris: 03:00 -> 02:00, 02:30 happens twice
        w = self.one_off(date="2026-10-25", start="02:30", duration="2h")
        occurrence = pw.current_or_next_occurrence(w, local("2026-10-24T12:00:00"))
        assert occurrence is not None
        assert occurrence.start_utc == at("2026-10-25T00:30:00Z")  # +02:00, before fall-back
        assert occurrence.end_utc == at("2026-10-25T02:30:00Z")  # elapsed time, not wall clock

    def test_crosses_midnight(self) -> None:
        w = self.one_off(start="23:00", duration="3h")
        assert pw.is_open(w, local("2026-12-20T01:30:00"))
        assert not pw.is_open(w, local("2026-12-20T02:00:00"))

    def test_a_blackout_on_its_date_keeps_it_closed(self) -> None:
        w = self.one_off(blackout_dates=["2026-12-19"])
        assert not pw.is_open(w, local("2026-12-19T19:00:00"))
        assert pw.current_or_next_occurrence(w, local("2026-12-01T00:00:00")) is None

    @pytest.mark.parametrize(
        ("overrides", "key"),
        [
            ({"days": ["sat"]}, "date"),
            ({"date": None}, "days"),
            ({"date": "2026-02-30"}, "date"),
            ({"date": "19/12/2026"}, "date"),
            ({"date": datetime(2026, 12, 19, 18, 0)}, "date"),
        ],
    )
    def test_invalid_specs_name_the_key(self, overrides: dict[str, Any], key: str) -> None:
        with pytest.raises(pw.WindowError) as error:
            self.one_off(**overrides)
        assert error.value.key == key

    def test_a_date_object_is_accepted(self) -> None:
        assert self.one_off(date=date(2026, 12, 19)).date == date(2026, 12, 19)

    @settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(
        day=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
        minutes=st.integers(0, 23 * 60 + 59),
        tz=st.sampled_from(["Europe/Rome", "America/New_York", "Australia/Lord_Howe", "UTC"]),
    )
    def test_is_the_matching_occurrence_of_a_daily_window(
        self, day: date, minutes: int, tz: str
    ) -> None:
        """The one-off window on a date is exactly the daily window's occurrence of that date."""
        start = f"{minutes // 60:02d}:{minutes % 60:02d}"
        one_off = self.one_off(date=day.isoformat(), start=start, timezone=tz)
        daily = pw.parse_window(
            {"days": ["daily"], "start": start, "duration": "3h", "timezone": tz}
        )
        expected = pw.occurrence_on(daily, day)
        first = datetime.combine(day - timedelta(days=2), time(), tzinfo=UTC)
        assert pw.current_or_next_occurrence(one_off, first) == expected
