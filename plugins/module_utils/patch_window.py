# Copyright: (c) mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Patch-window engine: when may a host be patched (or rebooted)?

Pure logic, standard library only, so it runs both on the controller (the
``mspctl.policy.patch_window`` filter) and on a managed host's Python >= 3.9 as an
Ansible ``module_utils``
(``from ansible_collections.mspctl.policy.plugins.module_utils.patch_window import ...``).

A window spec is a mapping::

    {"days": ["sat", "sun"],          # or ["2nd tue"], ["last fri"], ["daily"]
     "start": "22:00",                # local wall-clock time, HH:MM (quote it in YAML)
     "duration": "4h",                # "90m", "4h", "1h30m"; 1 minute .. 24 hours
     "timezone": "Europe/Paris",      # IANA name: the client's time zone
     "blackout_dates": ["2026-12-25", {"from": "2026-12-20", "to": "2027-01-02"}]}

A *one-off* window (a booked maintenance) has ``"date": "2026-12-19"`` instead of
``days``: a single occurrence on that local date, with the same ``start``,
``duration``, ``timezone`` and DST rules. A spec has either ``days`` or ``date``.

Semantics:

* ``days`` entries are ``mon`` .. ``sun`` (full names accepted), ``daily``, or an
  Nth weekday: ``1st`` .. ``4th`` or ``last`` followed by a weekday. ``2nd tue`` is
  the second Tuesday of the month (Patch Tuesday); ``last fri`` the last Friday.
  Each matching local date yields one *occurrence* (dates matched by several
  entries count once).
* An occurrence starts at ``start`` local wall-clock time on its date and lasts
  ``duration`` of elapsed real time, so it may cross midnight (Saturday 22:00 for
  4h is open until Sunday 02:00 local) and a window spanning a DST change is
  still exactly ``duration`` long in UTC.
* DST gap: if ``start`` does not exist on that date (spring forward), the
  occurrence starts at the first valid instant after the gap, i.e. the
  transition itself (02:30 on a 02:00->03:00 day starts at 03:00).
* DST overlap: if ``start`` is ambiguous (fall back), the first occurrence of that
  wall-clock time is used (``fold=0``).
* Blackouts are local dates or inclusive ``{from, to}`` ranges in the window's
  time zone. An occurrence is blacked out when the date it belongs to (its start
  date; for a start moved by a DST gap, the date it was scheduled on) is in a
  blackout. Blacked-out occurrences never open the window.
* Windows are half-open: open at ``start``, closed again at ``start + duration``.
  If occurrences overlap (possible only with very long windows across a DST
  change) the window is open while any of them is, and the *current* occurrence
  is the one that started last (it closes last).
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "MAX_DURATION",
    "DayRule",
    "Occurrence",
    "Window",
    "WindowError",
    "current_or_next_occurrence",
    "evaluate",
    "is_blacked_out",
    "is_open",
    "occurrence_on",
    "parse_duration",
    "parse_instant",
    "parse_window",
]

UTC = _dt.timezone.utc
MAX_DURATION = _dt.timedelta(hours=24)
KEYS = ("days", "date", "start", "duration", "timezone", "blackout_dates")
REQUIRED_KEYS = ("start", "duration", "timezone")  # and one of days / date

_WEEKDAY_ABBR = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_FULL = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS = {name: i for names in (_WEEKDAY_ABBR, _WEEKDAY_FULL) for i, name in enumerate(names)}
_ORDINALS = {"1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "last": -1}
_ORDINAL_NAMES = {value: key for key, value in _ORDINALS.items()}
_MIN_NOW = _dt.date(1, 1, 10)  # room for the look-back/ahead around now
_MAX_NOW = _dt.date(9998, 12, 31)
_START_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
_DURATION_RE = re.compile(r"^(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?$")


class WindowError(ValueError):
    """A window spec is invalid; ``key`` names the offending spec key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True)
class DayRule:
    """One ``days`` entry: every day, a weekday, or the Nth weekday of the month.

    ``weekday`` is 0 (Monday) .. 6 (Sunday) or None for ``daily``; ``nth`` is
    1 .. 4, -1 for ``last``, or None for every such weekday.
    """

    weekday: int | None = None
    nth: int | None = None

    def matches(self, day: _dt.date) -> bool:
        """Whether ``day`` (a local date) is selected by this rule."""
        if self.weekday is None:
            return True
        if day.weekday() != self.weekday:
            return False
        if self.nth is None:
            return True
        if self.nth == -1:
            return day.day + 7 > calendar.monthrange(day.year, day.month)[1]
        return (day.day - 1) // 7 + 1 == self.nth

    def __str__(self) -> str:
        if self.weekday is None:
            return "daily"
        name = _WEEKDAY_ABBR[self.weekday]
        return name if self.nth is None else f"{_ORDINAL_NAMES[self.nth]} {name}"


@dataclass(frozen=True)
class Window:
    """A parsed, validated window spec (build it with :func:`parse_window`)."""

    days: tuple[DayRule, ...]
    start: _dt.time
    duration: _dt.timedelta
    timezone: str
    blackouts: tuple[tuple[_dt.date, _dt.date], ...] = ()
    date: _dt.date | None = None  # a one-off window: only this local date (``days`` empty)
    tzinfo: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tzinfo", ZoneInfo(self.timezone))

    def matches(self, day: _dt.date) -> bool:
        """Whether local date ``day`` is scheduled (ignoring blackouts)."""
        if self.date is not None:
            return day == self.date
        return any(rule.matches(day) for rule in self.days)


class Occurrence(NamedTuple):
    """One concrete opening of a window, as a half-open UTC interval."""

    start_utc: _dt.datetime
    end_utc: _dt.datetime

    def contains(self, instant: _dt.datetime) -> bool:
        """Whether ``instant`` lies in ``[start_utc, end_utc)``."""
        return self.start_utc <= instant < self.end_utc


# --------------------------------------------------------------------------- parsing


def parse_window(spec: Mapping[str, Any]) -> Window:
    """Validate a window spec and return a :class:`Window`.

    Raises :class:`WindowError` naming the offending key on any invalid input.
    """
    if not isinstance(spec, Mapping):
        raise WindowError("window", f"expected a mapping, got {type(spec).__name__}")
    for key in spec:
        if key not in KEYS:
            raise WindowError(str(key), f"unknown key; expected one of {', '.join(KEYS)}")
    has_days = spec.get("days") not in (None, "")
    has_date = spec.get("date") not in (None, "")
    if has_days and has_date:
        raise WindowError(
            "date", "a spec has either 'date' (a one-off window) or 'days' (a recurring one)"
        )
    if not has_days and not has_date:
        raise WindowError("days", "is required (or 'date' for a one-off window)")
    for key in REQUIRED_KEYS:
        if spec.get(key) in (None, ""):
            raise WindowError(key, "is required")
    tz_name = _parse_timezone(spec["timezone"])
    return Window(
        days=_parse_days(spec["days"]) if has_days else (),
        start=_parse_start(spec["start"]),
        duration=parse_duration(spec["duration"]),
        timezone=tz_name,
        blackouts=_parse_blackouts(spec.get("blackout_dates") or []),
        date=_parse_date(spec["date"], "date", key="date") if has_date else None,
    )


def _parse_days(value: Any) -> tuple[DayRule, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise WindowError("days", "expected a non-empty list such as ['sat', 'sun'] or ['2nd tue']")
    rules: list[DayRule] = []
    for item in items:
        rule = _parse_day(item)
        if rule not in rules:
            rules.append(rule)
    return tuple(rules)


def _parse_day(item: Any) -> DayRule:
    if not isinstance(item, str):
        raise WindowError("days", f"entry {item!r} is not a string")
    words = item.strip().lower().split()
    if words == ["daily"]:
        return DayRule()
    if len(words) == 1 and words[0] in _WEEKDAYS:
        return DayRule(weekday=_WEEKDAYS[words[0]])
    if len(words) == 2 and words[0] in _ORDINALS and words[1] in _WEEKDAYS:
        return DayRule(weekday=_WEEKDAYS[words[1]], nth=_ORDINALS[words[0]])
    raise WindowError(
        "days",
        f"unknown day {item!r}; use 'daily', a weekday (mon..sun) or "
        "'1st'..'4th'/'last' plus a weekday, e.g. '2nd tue'",
    )


def _parse_start(value: Any) -> _dt.time:
    if isinstance(value, int) and not isinstance(value, bool):
        raise WindowError(
            "start",
            f"got the number {value}: YAML 1.1 reads an unquoted 22:00 as a base-60 "
            'integer; quote it, e.g. start: "22:00"',
        )
    match = _START_RE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise WindowError("start", f"expected a local time HH:MM, got {value!r}")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise WindowError("start", f"{value!r} is not a valid time of day (00:00..23:59)")
    return _dt.time(hour, minute)


def parse_duration(value: Any, minimum: _dt.timedelta | None = None) -> _dt.timedelta:
    """A duration such as '90m', '4h' or '1h30m': more than 0 (or at least ``minimum``) and at
    most 24h. The one syntax of every duration mspctl reads (windows, booked maintenance)."""
    match = _DURATION_RE.match(value.strip().lower()) if isinstance(value, str) else None
    if match is None or not any(match.groups()):
        raise WindowError("duration", f"expected e.g. '90m', '4h' or '1h30m', got {value!r}")
    hours, minutes = (int(group or 0) for group in match.groups())
    duration = _dt.timedelta(hours=hours, minutes=minutes)
    if minimum is None and not _dt.timedelta(0) < duration <= MAX_DURATION:
        raise WindowError("duration", f"{value!r} must be more than 0 and at most 24h")
    if minimum is not None and not minimum <= duration <= MAX_DURATION:
        least = int(minimum.total_seconds() // 60)
        raise WindowError("duration", f"{value!r} must be between {least}m and 24h")
    return duration


def _parse_timezone(value: Any) -> str:
    if not isinstance(value, str):
        raise WindowError("timezone", f"expected an IANA time zone name, got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise WindowError(
            "timezone",
            f"unknown time zone {value!r} (an IANA name such as 'Europe/Paris'; "
            "hosts without a tz database need the 'tzdata' package)",
        ) from None
    return value


def _parse_date(value: Any, where: str, key: str = "blackout_dates") -> _dt.date:
    if isinstance(value, _dt.datetime):
        raise WindowError(key, f"{where}: expected a date, got a date and time")
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise WindowError(key, f"{where}: expected an ISO date YYYY-MM-DD, got {value!r}")


def _parse_blackouts(value: Any) -> tuple[tuple[_dt.date, _dt.date], ...]:
    if not isinstance(value, (list, tuple)):
        raise WindowError("blackout_dates", "expected a list of dates or {from, to} ranges")
    ranges: list[tuple[_dt.date, _dt.date]] = []
    for index, item in enumerate(value):
        where = f"entry {index}"
        if isinstance(item, Mapping):
            extra = set(item) - {"from", "to"}
            if extra or "from" not in item or "to" not in item:
                raise WindowError(
                    "blackout_dates", f"{where}: a range needs exactly the keys 'from' and 'to'"
                )
            first = _parse_date(item["from"], f"{where}.from")
            last = _parse_date(item["to"], f"{where}.to")
            if last < first:
                raise WindowError(
                    "blackout_dates",
                    f"{where}: inverted range, 'to' {last} is before 'from' {first}",
                )
        else:
            first = last = _parse_date(item, where)
        ranges.append((first, last))
    ranges.sort()
    for (first_a, last_a), (first_b, last_b) in zip(ranges, ranges[1:]):
        if first_b <= last_a:
            raise WindowError(
                "blackout_dates",
                f"{_fmt_range(first_a, last_a)} overlaps {_fmt_range(first_b, last_b)}",
            )
    return tuple(ranges)


def _fmt_range(first: _dt.date, last: _dt.date) -> str:
    return str(first) if first == last else f"{first}..{last}"


def parse_instant(value: Any) -> _dt.datetime:
    """Turn an aware datetime or an ISO 8601 string with an offset (or ``Z``) into UTC.

    Naive values are rejected: guessing their zone is how windows end up an hour off.
    """
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            value = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 date and time: {value!r}") from None
    if not isinstance(value, _dt.datetime):
        raise TypeError(f"expected a datetime or ISO 8601 string, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value.isoformat()} has no UTC offset; add one, e.g. 'Z' or '+00:00'")
    return value.astimezone(UTC)


# --------------------------------------------------------------------------- occurrences


def _local_to_utc(day: _dt.date, start: _dt.time, tz: ZoneInfo) -> _dt.datetime:
    """UTC instant of local wall time ``day start`` (first if ambiguous, gap end if missing)."""
    naive = _dt.datetime.combine(day, start)
    first = naive.replace(tzinfo=tz).astimezone(UTC)  # fold=0: the earlier of two readings
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first
    # Nonexistent (in a gap): the transition lies between the readings under the
    # offsets before and after it; bisect on whole seconds (tzdata transitions are).
    other = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low = int(min(first, other).timestamp())  # local time before the gap: < naive
    high = int(max(first, other).timestamp())  # local time after the gap: > naive
    while high - low > 1:
        middle = (low + high) // 2
        local = _dt.datetime.fromtimestamp(middle, tz).replace(tzinfo=None)
        if local >= naive:
            high = middle
        else:
            low = middle
    return _dt.datetime.fromtimestamp(high, UTC)


def is_blacked_out(window: Window, day: _dt.date) -> bool:
    """Whether local date ``day`` falls in one of the window's blackouts."""
    return _blackout_end(window, day) is not None


def _blackout_end(window: Window, day: _dt.date) -> _dt.date | None:
    for first, last in window.blackouts:
        if first <= day <= last:
            return last
    return None


def occurrence_on(window: Window, day: _dt.date) -> Occurrence | None:
    """The occurrence scheduled on local date ``day``, or None (blackouts ignored)."""
    if not window.matches(day):
        return None
    start = _local_to_utc(day, window.start, window.tzinfo)
    return Occurrence(start, start + window.duration)


def _scheduled(
    window: Window, first_day: _dt.date, skip_blackouts: bool
) -> Iterator[tuple[_dt.date, Occurrence]]:
    """Occurrences by local date from ``first_day`` on, until the calendar ends."""
    day = first_day
    while True:
        if skip_blackouts:
            blackout_end = _blackout_end(window, day)
            if blackout_end is not None:
                if blackout_end >= _dt.date.max - _dt.timedelta(days=2):
                    return
                day = blackout_end + _dt.timedelta(days=1)
                continue
        occurrence = occurrence_on(window, day)
        if occurrence is not None:
            yield day, occurrence
        if window.date is not None and day >= window.date:  # a one-off window: done
            return
        if day >= _dt.date.max - _dt.timedelta(days=2):  # leave room for the UTC conversion
            return
        day += _dt.timedelta(days=1)


class _Status(NamedTuple):
    current: Occurrence | None
    blacked_out: Occurrence | None
    next: Occurrence | None


def _status(window: Window, now: _dt.datetime) -> _Status:
    now = _check_now(now)
    today = now.astimezone(window.tzinfo).date()
    # An occurrence containing now started less than MAX_DURATION ago; a DST gap
    # can push a start by up to a day past its date: three days back is ample.
    first_day = today - _dt.timedelta(days=3)
    current: Occurrence | None = None
    blacked: Occurrence | None = None
    for day, occurrence in _scheduled(window, first_day, skip_blackouts=False):
        if day > today + _dt.timedelta(days=1):
            break
        if not occurrence.contains(now):
            continue
        if is_blacked_out(window, day):
            blacked = blacked or occurrence
        elif current is None or occurrence.start_utc > current.start_utc:
            current = occurrence
    following: Occurrence | None = None
    stop: _dt.date | None = None
    for day, occurrence in _scheduled(window, first_day, skip_blackouts=True):
        if stop is not None and day > stop:
            break
        if occurrence.start_utc > now and (
            following is None or occurrence.start_utc < following.start_utc
        ):
            following = occurrence
            # Starts grow with dates; look two more days in case a DST jump reorders them.
            stop = day + _dt.timedelta(days=2)
    return _Status(current, None if current else blacked, following)


def _check_now(now: _dt.datetime) -> _dt.datetime:
    if not isinstance(now, _dt.datetime):
        raise TypeError(f"now must be a datetime, got {type(now).__name__}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)
    if not _MIN_NOW <= now.date() <= _MAX_NOW:
        raise ValueError(f"now {now.isoformat()} is outside the supported years 1..9998")
    return now


def is_open(window: Window, now_utc: _dt.datetime) -> bool:
    """Whether the window is open at ``now_utc`` (an aware datetime)."""
    return _status(window, now_utc).current is not None


def current_or_next_occurrence(window: Window, now_utc: _dt.datetime) -> Occurrence | None:
    """The occurrence containing ``now_utc`` if open, else the next one to start.

    None only when blackouts cover the rest of the calendar.
    """
    status = _status(window, now_utc)
    return status.current or status.next


def _iso(instant: _dt.datetime | None, tz: ZoneInfo | None = None) -> str | None:
    if instant is None:
        return None
    return (instant.astimezone(tz) if tz is not None else instant).isoformat()


def evaluate(window: Window, now_utc: _dt.datetime) -> dict[str, Any]:
    """JSON-able status of ``window`` at ``now_utc``.

    ``current`` is the open occurrence (None when closed); ``next_*`` is the next
    occurrence starting after now, whether or not the window is open. ``reason`` is
    ``blackout`` when an occurrence would be open now but its date is blacked out.
    Instants are ISO 8601 strings: ``*_local`` in the window's time zone, the
    others in UTC.
    """
    now = _check_now(now_utc)
    status = _status(window, now)
    tz = window.tzinfo
    if status.current is not None:
        reason = "inside window"
        current: dict[str, str | None] | None = {
            "start": _iso(status.current.start_utc),
            "end": _iso(status.current.end_utc),
            "start_local": _iso(status.current.start_utc, tz),
            "end_local": _iso(status.current.end_utc, tz),
        }
    else:
        reason = "blackout" if status.blacked_out is not None else "outside window"
        current = None
    following = status.next
    return {
        "open": status.current is not None,
        "reason": reason,
        "now": _iso(now),
        "timezone": window.timezone,
        "current": current,
        "next_start": _iso(following.start_utc) if following else None,
        "next_end": _iso(following.end_utc) if following else None,
        "next_start_local": _iso(following.start_utc, tz) if following else None,
        "next_end_local": _iso(following.end_utc, tz) if following else None,
    }
