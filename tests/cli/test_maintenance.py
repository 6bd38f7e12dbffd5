"""``mspctl maintenance``: book, list and cancel one-off windows, in the client's local time
(Europe/Rome here, across a DST change); every bad input exits 3 and records nothing."""

from __future__ import annotations

import calendar
import datetime as dt
import json

import pytest

YEAR = dt.date.today().year + 1
# the last Sunday of March: Europe/Rome goes from 02:00 CET to 03:00 CEST
DST_SUNDAY = max(
    week[calendar.SUNDAY] for week in calendar.monthcalendar(YEAR, 3) if week[calendar.SUNDAY]
)
SATURDAY = f"{YEAR}-03-{DST_SUNDAY - 1:02d}"
SUNDAY = f"{YEAR}-03-{DST_SUNDAY:02d}"


@pytest.fixture
def rome(cli):
    client = cli.project / "inventories/demo/client.yml"
    client.write_text(client.read_text().replace("Europe/Paris", "Europe/Rome"))
    return cli


def _book(cli, start, duration="5h", *extra):
    return cli(
        "maintenance", "book", "demo", "--start", start, "--duration", duration,
        "--reason", "ERP upgrade", "--by", "alice", *extra,
    )  # fmt: skip


def _bookings(cli):
    if not (cli.home / "mspctl.db").exists():
        return []
    return cli.json("maintenance", "list", "--all")


def test_book_list_cancel_across_a_dst_change(rome):
    result = _book(rome, f"{SATURDAY} 23:00", "5h", "--hosts", "servers", "--json")
    assert result.exit_code == 0, result.output
    booking = json.loads(result.stdout)
    # 23:00 CET is 22:00 UTC; five hours later it is 05:00 CEST (the clock skipped an hour)
    assert booking["start"] == f"{SATURDAY}T22:00:00+00:00"
    assert booking["end"] == f"{SUNDAY}T03:00:00+00:00"
    assert booking["start_local"] == f"{SATURDAY}T23:00:00+01:00"
    assert booking["end_local"] == f"{SUNDAY}T05:00:00+02:00"
    assert booking["timezone"] == "Europe/Rome"
    assert (booking["hosts"], booking["booked_by"], booking["reason"]) == (
        "servers",
        "alice",
        "ERP upgrade",
    )

    table = rome("maintenance", "list", "demo")
    assert table.exit_code == 0, table.output
    assert f"{SATURDAY} 23:00 CET to {SUNDAY} 05:00 CEST" in table.stdout
    assert [b["id"] for b in rome.json("maintenance", "list")] == [booking["id"]]
    assert rome.json("maintenance", "list", "nobody-else") == []

    cancelled = rome("maintenance", "cancel", str(booking["id"]))
    assert cancelled.exit_code == 0, cancelled.output
    assert rome.json("maintenance", "list", "demo") == []
    [kept] = rome.json("maintenance", "list", "--all")
    assert kept["cancelled_at"] is not None
    # the cancelled slot is free again
    assert _book(rome, f"{SATURDAY} 23:00").exit_code == 0


def test_adjacent_bookings_do_not_overlap(rome):
    assert _book(rome, f"{SATURDAY} 20:00", "3h").exit_code == 0
    result = _book(rome, f"{SATURDAY} 23:00", "1h")
    assert result.exit_code == 0, result.output


def _assert_bad(result, fragment):
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--start", "2020-01-01 10:00", "--duration", "1h"), "in the past"),
        (("--start", f"{SUNDAY} 02:30", "--duration", "1h"), "does not exist in Europe/Rome"),
        (("--start", f"{SATURDAY} 25:00", "--duration", "1h"), "YYYY-MM-DD HH:MM"),
        (("--start", "tomorrow", "--duration", "1h"), "YYYY-MM-DD HH:MM"),
        (("--start", f"{SATURDAY} 10:00", "--duration", "10m"), "between 15m and 24h"),
        (("--start", f"{SATURDAY} 10:00", "--duration", "24h1m"), "between 15m and 24h"),
        (("--start", f"{SATURDAY} 10:00", "--duration", "soon"), "--duration"),
    ],
)
def test_bad_booking_exits_3_and_records_nothing(rome, args, fragment):
    result = rome("maintenance", "book", "demo", *args, "--reason", "x")
    _assert_bad(result, fragment)
    assert _bookings(rome) == []


def test_empty_reason(rome):
    result = rome(
        "maintenance", "book", "demo", "--start", f"{SATURDAY} 10:00", "--duration", "1h",
        "--reason", "  ",
    )  # fmt: skip
    _assert_bad(result, "--reason")
    assert _bookings(rome) == []


def test_unknown_client(rome):
    result = rome(
        "maintenance", "book", "nobody", "--start", f"{SATURDAY} 10:00", "--duration", "1h",
        "--reason", "x",
    )  # fmt: skip
    _assert_bad(result, "unknown client 'nobody'")
    assert _bookings(rome) == []


@pytest.mark.parametrize(
    ("start", "duration"),
    [
        (f"{SATURDAY} 23:30", "1h"),  # starts inside
        (f"{SATURDAY} 22:30", "1h"),  # ends inside
        (f"{SATURDAY} 20:00", "12h"),  # covers it
        (f"{SUNDAY} 04:00", "1h"),  # inside, after the DST change
    ],
)
def test_overlapping_booking_exits_3_and_records_nothing(rome, start, duration):
    assert _book(rome, f"{SATURDAY} 23:00", "5h").exit_code == 0
    before = _bookings(rome)
    _assert_bad(_book(rome, start, duration), "overlaps booking")
    assert _bookings(rome) == before


def test_cancel_unknown_or_twice(rome):
    _assert_bad(rome("maintenance", "cancel", "42"), "unknown booking 42")
    assert _book(rome, f"{SATURDAY} 23:00").exit_code == 0
    [booking] = _bookings(rome)
    assert rome("maintenance", "cancel", str(booking["id"])).exit_code == 0
    _assert_bad(rome("maintenance", "cancel", str(booking["id"])), "already cancelled")
    not_an_id = rome("maintenance", "cancel", "abc")  # click's usage error
    assert not_an_id.exit_code == 3, not_an_id.output


def test_unknown_time_zone_of_the_client(rome):
    client = rome.project / "inventories/demo/client.yml"
    client.write_text(client.read_text().replace("Europe/Rome", "Europe/Atlantis"))
    result = _book(rome, f"{SATURDAY} 23:00")
    _assert_bad(result, "Europe/Atlantis")
    assert "client.yml" in result.stderr and "timezone" in result.stderr
    assert _bookings(rome) == []
