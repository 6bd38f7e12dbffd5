"""Business-time arithmetic: when a first-response SLA of N business minutes falls due.

Pure functions of aware datetimes. A client's business time is its support hours (wall-clock
``start``..``end`` on its support ``days``) in its time zone, minus the public holidays of its
country. Minutes are real elapsed minutes: the local wall-clock bounds of each day are turned
into instants with the zone's rules, so a DST change is counted as it happens.

Outside support hours the clock stops, whatever the tier's ``evening_weekend_support`` says:
evening and weekend support is booked in advance, it is not part of the SLA clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Container, Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# a calendar with no business day in this many days is a mistake, not a long wait
MAX_DAYS = 3660


@dataclass(frozen=True)
class BusinessCalendar:
    """Support hours of a client: local ``start``..``end`` on ``days`` (0 = Monday) in
    ``timezone``, except on ``holidays`` (any container of dates, e.g. ``holidays.IT()``)."""

    timezone: ZoneInfo
    days: frozenset[int]
    start: dt.time
    end: dt.time
    holidays: Container[dt.date] = field(default_factory=frozenset, compare=False)

    def __post_init__(self) -> None:
        if not self.days or not self.days <= set(range(7)):
            raise ValueError(f"support days must be weekdays 0..6, not {sorted(self.days)}")
        if self.end <= self.start:
            raise ValueError(f"support end {self.end} must be after start {self.start}")

    @classmethod
    def of(
        cls,
        timezone: str,
        days: list[str],
        start: str,
        end: str,
        holidays: Container[dt.date] = frozenset(),
    ) -> BusinessCalendar:
        """From the tier's ``support_hours`` (``days: [mon, ...]``, ``"08:00"``)."""
        return cls(
            ZoneInfo(timezone),
            frozenset(WEEKDAYS.index(d) for d in days),
            dt.time.fromisoformat(start),
            dt.time.fromisoformat(end),
            holidays,
        )

    def is_business_day(self, day: dt.date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """The instants (UTC) the support hours of ``day`` open and close. A wall-clock time
        skipped by DST maps forward, one repeated maps to its first occurrence (``fold=0``)."""
        start = dt.datetime.combine(day, self.start, self.timezone)
        end = dt.datetime.combine(day, self.end, self.timezone)
        return _instant(start), _instant(end)

    def windows(self, since: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """The business windows that end after ``since``, in order (clipped to start at it)."""
        since = _aware(since)
        day = since.astimezone(self.timezone).date() - dt.timedelta(days=1)
        for _ in range(MAX_DAYS):
            if self.is_business_day(day):
                opens, closes = self.window(day)
                if closes > since:
                    yield max(opens, since), closes
            day += dt.timedelta(days=1)
        raise ValueError(f"no business day within {MAX_DAYS} days of {since:%Y-%m-%d}")


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the business-time arithmetic")
    return moment.astimezone(dt.UTC)


def _instant(local: dt.datetime) -> dt.datetime:
    # a nonexistent wall time (spring forward) round-trips to the later side; the UTC offset of
    # fold=0 is the one before the change, so e.g. 02:30 becomes 03:30 local
    return local.astimezone(dt.UTC)


def deadline(calendar: BusinessCalendar, start: dt.datetime, minutes: float) -> dt.datetime:
    """The instant (UTC) at which ``minutes`` business minutes have passed since ``start``.

    An alert outside support hours starts its clock when they next open. Zero minutes is the
    first business instant at or after ``start``.
    """
    if minutes < 0:
        raise ValueError("an SLA cannot be negative")
    left = dt.timedelta(minutes=minutes)
    for opens, closes in calendar.windows(start):
        if opens + left <= closes:
            return opens + left
        left -= closes - opens
    raise AssertionError("unreachable: windows() raises first")  # pragma: no cover


def business_minutes(calendar: BusinessCalendar, start: dt.datetime, end: dt.datetime) -> float:
    """Business minutes between two instants (0 if ``end`` is not after ``start``)."""
    start, end = _aware(start), _aware(end)
    total = dt.timedelta()
    if end <= start:
        return 0.0
    for opens, closes in calendar.windows(start):
        if opens >= end:
            break
        total += min(closes, end) - opens
    return total.total_seconds() / 60


def country_holidays(country: str) -> Container[dt.date]:
    """The public holidays of ``country`` (ISO 3166 code) in every year asked, from the
    ``holidays`` package; an unknown code is a ``ValueError`` naming it."""
    import holidays

    try:
        return holidays.country_holidays(country.upper())
    except NotImplementedError:
        raise ValueError(f"no public holidays known for country {country!r}") from None
