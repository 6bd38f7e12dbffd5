"""Monitoring's maintenance windows come from the tier's patch windows (run context)."""

from __future__ import annotations

from pathlib import Path

from mspctl.catalogue import Catalogue
from mspctl.engine import maintenance_windows

TIERS = Path(__file__).resolve().parents[2] / "tiers"


def test_tiers_with_patching_pass_their_windows():
    catalogue = Catalogue.load(TIERS)
    windows = maintenance_windows(catalogue.get("platinum"))
    assert set(windows) == {"servers", "workstations"}
    assert windows["servers"]["days"] == ["sat"]
    assert windows["servers"]["start"] == "22:00"


def test_a_tier_without_patching_has_no_maintenance_window():
    assert maintenance_windows(Catalogue.load(TIERS).get("bronze")) == {}


def test_blackout_dates_travel_with_each_window(tmp_path):
    target = tmp_path / "tiers"
    target.mkdir()
    for tier in TIERS.glob("*.yml"):
        (target / tier.name).write_text(tier.read_text())
    gold = target / "gold.yml"
    gold.write_text(
        gold.read_text().replace(
            "    scope: all", '    scope: all\n    blackout_dates: ["2026-12-24"]'
        )
    )
    windows = maintenance_windows(Catalogue(target, project_dir=TIERS.parent).get("gold"))
    assert all(w["blackout_dates"] == ["2026-12-24"] for w in windows.values())


# --------------------------------------------------------------------------- booked maintenance


def _booking(booking_id, start, minutes=180, *, cancelled=False, tz="Europe/Rome"):
    import datetime as dt
    from zoneinfo import ZoneInfo

    from mspctl.maintenance import Booking

    local = dt.datetime.fromisoformat(start).replace(tzinfo=ZoneInfo(tz))
    return Booking(
        id=booking_id,
        client="demo",
        start_utc=local.astimezone(dt.UTC),
        start_local=start,
        timezone=tz,
        duration=dt.timedelta(minutes=minutes),
        hosts="all",
        reason="upgrade",
        booked_by="alice",
        booked_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        cancelled_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC) if cancelled else None,
    )


def test_bookings_as_windows_are_one_off_specs_the_engine_reads():
    from mspctl.maintenance import bookings_as_windows
    from mspctl.policies import window_parser

    pw = window_parser(TIERS.parent)  # the collection's module_utils, loaded by path

    specs = bookings_as_windows(
        [_booking(1, "2027-03-27 23:00", 300), _booking(2, "2027-04-01 10:00", cancelled=True)]
    )
    assert specs == [
        {"date": "2027-03-27", "start": "23:00", "duration": "300m", "timezone": "Europe/Rome"}
    ]
    window = pw.parse_window(specs[0])
    occurrence = pw.current_or_next_occurrence(window, pw.parse_instant("2027-03-01T00:00:00Z"))
    assert occurrence == (
        pw.parse_instant("2027-03-27T22:00:00Z"),
        pw.parse_instant("2027-03-28T03:00:00Z"),
    )


def test_open_booking():
    import datetime as dt

    from mspctl.maintenance import open_booking

    bookings = [
        _booking(1, "2027-03-27 23:00", 300),
        _booking(2, "2027-03-28 01:00", 600, cancelled=True),
        _booking(3, "2027-03-28 04:00", 120),
    ]
    at = dt.datetime.fromisoformat
    assert open_booking(bookings, at("2027-03-27T21:59:59+00:00")) is None
    assert open_booking(bookings, at("2027-03-27T22:00:00+00:00")).id == 1
    assert open_booking(bookings, at("2027-03-28T02:30:00+00:00")).id == 3  # ends last
    assert open_booking(bookings, at("2027-03-28T03:00:00+00:00")).id == 3
    assert open_booking(bookings, at("2027-03-28T06:00:00+00:00")) is None  # cancelled one ignored
    assert open_booking([], at("2027-03-28T03:00:00+00:00")) is None


def test_with_bookings_adds_specs_under_all():
    from mspctl.maintenance import bookings_as_windows, with_bookings

    booked = [_booking(1, "2027-03-27 23:00")]
    [spec] = bookings_as_windows(booked)
    servers = {"days": ["sat"], "start": "22:00", "duration": "4h"}
    assert with_bookings({"servers": servers}, []) == {"servers": servers}
    assert with_bookings({"servers": servers}, booked) == {"servers": servers, "all": [spec]}
    everyone = {"days": ["sun"], "start": "01:00", "duration": "1h"}
    assert with_bookings({"all": everyone}, booked) == {"all": [everyone, spec]}
    assert with_bookings({"all": [everyone]}, booked) == {"all": [everyone, spec]}


def test_plan_passes_the_clients_open_and_upcoming_bookings(project, home):
    import datetime as dt

    from mspctl import engine
    from mspctl.maintenance import BookingRequest, book, cancel
    from mspctl.workspace import Workspace

    workspace = Workspace(project_dir=project, home=home)
    now = dt.datetime.now(dt.UTC)

    def local(days, hours=0):
        from zoneinfo import ZoneInfo

        when = (now + dt.timedelta(days=days, hours=hours)).astimezone(ZoneInfo("Europe/Paris"))
        return f"{when:%Y-%m-%d %H:%M}"

    soon = book(workspace, BookingRequest("demo", local(2), "3h", "ERP upgrade"), now)
    far = book(workspace, BookingRequest("demo", local(20), "3h", "next month"), now)
    gone = book(workspace, BookingRequest("demo", local(3), "1h", "called off"), now)
    cancel(workspace, gone.id, now)
    assert far.id

    planned = engine.plan(
        workspace, engine.ApplyRequest(client="demo", policies=("assets",)), now=now
    )
    windows = planned.extravars["mspctl_maintenance_windows"]
    day, start = soon.start_local.split()
    assert windows["all"] == [
        {"date": day, "start": start, "duration": "180m", "timezone": "Europe/Paris"}
    ]
    # the tier's patch windows stay as they were
    tier_windows = engine.maintenance_windows(planned.tier)
    assert {k: v for k, v in windows.items() if k != "all"} == tier_windows

    # a booking open now is passed too; none at all: no 'all' key added
    later = now + dt.timedelta(days=2, hours=1)
    assert (
        engine.plan(workspace, planned.request, now=later).extravars["mspctl_maintenance_windows"][
            "all"
        ]
        == windows["all"]
    )
    after = now + dt.timedelta(days=2, hours=4)  # it has ended; the far one is 16 days off
    assert engine.plan(workspace, planned.request, now=after).extravars[
        "mspctl_maintenance_windows"
    ] == engine.maintenance_windows(planned.tier)


def test_a_booking_of_some_hosts_names_them_in_its_spec():
    import dataclasses

    from mspctl.maintenance import bookings_as_windows

    narrow = dataclasses.replace(_booking(1, "2027-03-27 23:00"), hosts="ws-*")
    everyone = _booking(2, "2027-03-28 23:00")
    seen: list[str] = []

    def hosts_of(pattern: str) -> list[str]:
        seen.append(pattern)
        return ["ws-2", "ws-1"]

    first, second = bookings_as_windows([narrow, everyone], hosts_of)
    assert first["hosts"] == ["ws-1", "ws-2"] and "hosts" not in second
    assert seen == ["ws-*"]  # a booking of every host resolves no pattern
