"""Booked maintenance: one-off windows a technician books for a client (Platinum's scheduled
evening and weekend support), recorded in the run store.

A booking's start is a local wall-clock time in the client's time zone (``client.yml``
``timezone``); the store keeps it in UTC and as the local text it was booked at. Bookings reach
the hosts as one-off window specs (``date`` instead of ``days``, see
``plugins/module_utils/patch_window.py``) under the ``all`` key of the run context
``mspctl_maintenance_windows``: the monitoring role silences every host of the client during a
booking. The booking's host pattern is recorded and shown, but does not narrow the silence.

``bookings_as_windows`` and ``open_booking`` are pure, for any caller that treats an open
booking like an open patch window.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from mspctl.errors import BadInput

if TYPE_CHECKING:
    from mspctl.store import Store
    from mspctl.store.models import MaintenanceBooking
    from mspctl.workspace import Workspace

MIN_DURATION = dt.timedelta(minutes=15)
MAX_DURATION = dt.timedelta(hours=24)
HORIZON = dt.timedelta(days=14)  # the bookings a run passes to the hosts: open or this close
LOCAL_FORMAT = "%Y-%m-%d %H:%M"
# the window engine's duration syntax (plugins/module_utils/patch_window.py): 90m, 3h, 1h30m
_DURATION = re.compile(r"^(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?$")


@dataclass(frozen=True)
class Booking:
    id: int
    client: str
    start_utc: dt.datetime
    start_local: str  # "YYYY-MM-DD HH:MM" as booked, in ``timezone``
    timezone: str
    duration: dt.timedelta
    hosts: str
    reason: str
    booked_by: str
    booked_at: dt.datetime
    cancelled_at: dt.datetime | None = None

    @property
    def end_utc(self) -> dt.datetime:
        return self.start_utc + self.duration

    def local(self, instant: dt.datetime) -> dt.datetime:
        return instant.astimezone(ZoneInfo(self.timezone))

    def is_open(self, now: dt.datetime) -> bool:
        return self.cancelled_at is None and self.start_utc <= now < self.end_utc

    @classmethod
    def from_row(cls, row: MaintenanceBooking) -> Booking:
        return cls(
            id=row.id,
            client=row.client,
            start_utc=row.start_at,
            start_local=row.start_local,
            timezone=row.timezone,
            duration=dt.timedelta(seconds=row.duration_seconds),
            hosts=row.hosts,
            reason=row.reason,
            booked_by=row.booked_by,
            booked_at=row.booked_at,
            cancelled_at=row.cancelled_at,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: instants in UTC and, as ``*_local``, in the client's time zone."""
        return {
            "id": self.id,
            "client": self.client,
            "start": self.start_utc.isoformat(),
            "end": self.end_utc.isoformat(),
            "start_local": self.local(self.start_utc).isoformat(),
            "end_local": self.local(self.end_utc).isoformat(),
            "timezone": self.timezone,
            "duration_minutes": int(self.duration.total_seconds() // 60),
            "hosts": self.hosts,
            "reason": self.reason,
            "booked_by": self.booked_by,
            "booked_at": self.booked_at.isoformat(),
            "cancelled_at": self.cancelled_at.isoformat() if self.cancelled_at else None,
        }


# -- pure --------------------------------------------------------------------------------------
def bookings_as_windows(
    bookings: Iterable[Booking], hosts_of: Callable[[str], Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """The non-cancelled bookings as one-off window specs of the patch window engine. A booking
    of some hosts only (``--hosts PATTERN``) names them in its spec's ``hosts`` (resolved with
    ``hosts_of``), which the monitoring role reads to silence those hosts only."""
    specs: list[dict[str, Any]] = []
    for booking in bookings:
        if booking.cancelled_at is not None:
            continue
        day, start = booking.start_local.split(" ")
        spec: dict[str, Any] = {
            "date": day,
            "start": start,
            "duration": f"{int(booking.duration.total_seconds() // 60)}m",
            "timezone": booking.timezone,
        }
        if booking.hosts != "all" and hosts_of is not None:
            spec["hosts"] = sorted(hosts_of(booking.hosts))
        specs.append(spec)
    return specs


def open_booking(bookings: Iterable[Booking], now: dt.datetime) -> Booking | None:
    """The non-cancelled booking open at ``now`` (the one that ends last if several)."""
    open_now = [b for b in bookings if b.is_open(now)]
    return max(open_now, key=lambda b: (b.end_utc, b.id)) if open_now else None


def with_bookings(
    windows: Mapping[str, Any],
    bookings: Sequence[Booking],
    hosts_of: Callable[[str], Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The maintenance windows by host class, with the bookings' one-off specs added under
    ``all`` (a spec there becomes a list of specs)."""
    specs = bookings_as_windows(bookings, hosts_of)
    merged = dict(windows)
    if not specs:
        return merged
    given = merged.get("all")
    existing = [] if given is None else [given] if isinstance(given, Mapping) else list(given)
    merged["all"] = existing + specs
    return merged


def local_start(text: str, timezone: str) -> dt.datetime:
    """The UTC instant of local wall-clock time ``text`` (``YYYY-MM-DD HH:MM``) in
    ``timezone``. A time skipped by a DST change is bad input; a repeated one is its first
    reading, as the window engine reads it."""
    try:
        naive = dt.datetime.strptime(text.strip(), LOCAL_FORMAT)
    except ValueError:
        raise BadInput(
            f"{text!r} is not a local date and time YYYY-MM-DD HH:MM", key="--start"
        ) from None
    zone = ZoneInfo(timezone)
    instant = naive.replace(tzinfo=zone).astimezone(dt.UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != naive:
        raise BadInput(
            f"{naive:{LOCAL_FORMAT}} does not exist in {timezone} (a DST change skips it)",
            key="--start",
        )
    return instant


def parse_duration(text: str) -> dt.timedelta:
    match = _DURATION.match(text.strip().lower())
    if match is None or not any(match.groups()):
        raise BadInput(f"expected e.g. '90m', '3h' or '1h30m', got {text!r}", key="--duration")
    hours, minutes = (int(group or 0) for group in match.groups())
    duration = dt.timedelta(hours=hours, minutes=minutes)
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise BadInput(f"{text!r} must be between 15m and 24h", key="--duration")
    return duration


# -- with the store ------------------------------------------------------------------------------
@dataclass(frozen=True)
class BookingRequest:
    client: str
    start: str  # local "YYYY-MM-DD HH:MM"
    duration: str  # "3h", "90m", "1h30m"
    reason: str
    hosts: str = "all"
    booked_by: str | None = None


def book(workspace: Workspace, request: BookingRequest, now: dt.datetime) -> Booking:
    """Validate and record a booking. Bad input records nothing; every check but the overlap
    is made before the store is opened."""
    from mspctl.store.models import MaintenanceBooking

    client = workspace.clients.get(request.client)
    timezone = client.data.timezone
    start = local_start(request.start, timezone)
    if start <= now:
        raise BadInput(
            f"{request.start} {timezone} is in the past "
            f"(it is {now.astimezone(ZoneInfo(timezone)):{LOCAL_FORMAT}} there)",
            key="--start",
        )
    duration = parse_duration(request.duration)
    reason = request.reason.strip()
    if not reason:
        raise BadInput("is empty; say what the maintenance is for", key="--reason")
    hosts = request.hosts.strip()
    if not hosts:
        raise BadInput("is empty (all: every host of the client)", key="--hosts")
    row = MaintenanceBooking(
        client=client.slug,
        start_at=start,
        start_local=f"{start.astimezone(ZoneInfo(timezone)):{LOCAL_FORMAT}}",
        timezone=timezone,
        duration_seconds=int(duration.total_seconds()),
        hosts=hosts,
        reason=reason,
        booked_by=(request.booked_by or "").strip() or _user(),
        booked_at=now,
    )
    return Booking.from_row(workspace.store.add_booking(row))


def cancel(workspace: Workspace, booking_id: int, now: dt.datetime) -> Booking:
    return Booking.from_row(workspace.store.cancel_booking(booking_id, now))


def listed(
    store: Store, client: str | None, now: dt.datetime, *, everything: bool = False
) -> list[Booking]:
    """Bookings not yet ended and not cancelled; with ``everything``, all of them."""
    from mspctl.store.queries import bookings

    if everything:
        rows = bookings(store, client, cancelled=True)
    else:
        rows = bookings(store, client, since=now)
    return [Booking.from_row(row) for row in rows]


def upcoming(store: Store, client: str, now: dt.datetime) -> list[Booking]:
    """A client's non-cancelled bookings open at ``now`` or starting within :data:`HORIZON`."""
    from mspctl.store.queries import bookings

    return [Booking.from_row(r) for r in bookings(store, client, since=now, until=now + HORIZON)]


def _user() -> str:
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
