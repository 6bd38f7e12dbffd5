"""Fleet planning: which host is due at an instant, across time zones, DST and blackouts."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mspctl import fleet
from mspctl.errors import BadInput, ExitCode
from mspctl.policies import window_parser
from mspctl.workspace import Workspace

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "projects" / "fleet"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    project = tmp_path_factory.mktemp("fleet") / "project"
    shutil.copytree(FIXTURE, project)  # the window engine's link becomes a file
    return Workspace(project_dir=project, home=project.parent / "home", db_url="")


@pytest.fixture(scope="module")
def windows(workspace: Workspace) -> fleet.Windows:
    return fleet.Windows(window_parser(workspace.config.project_dir))


def utc(text: str) -> dt.datetime:
    return fleet.parse_now(text)


def due(workspace, windows, tz, now, hosts=(("srv", ("servers",)),)):
    tier = workspace.catalogue.get("silver")
    return fleet.due_hosts(tier, hosts, tz, utc(now), windows)[0]


@pytest.mark.parametrize(
    ("tz", "now", "expected"),
    [
        ("Europe/Paris", "2026-12-05T21:30Z", ("srv",)),  # Sat 22:30 in Paris
        ("America/New_York", "2026-12-05T21:30Z", ()),  # Sat 16:30 in New York
        ("America/New_York", "2026-12-06T03:00Z", ("srv",)),  # Sat 22:00 in New York
        ("Asia/Tokyo", "2026-12-05T13:00Z", ("srv",)),  # Sat 22:00 in Tokyo
        ("Asia/Tokyo", "2026-12-05T21:30Z", ()),  # Sun 06:30 in Tokyo
        ("Europe/Paris", "2026-12-06T00:59Z", ("srv",)),  # Sun 01:59: the window crosses midnight
        ("Europe/Paris", "2026-12-06T01:00Z", ()),  # Sun 02:00: closed (half-open)
        ("Europe/Paris", "2026-12-26T21:30Z", ()),  # Sat 26 Dec: blackout date
        ("Europe/Paris", "2027-01-02T21:30Z", ("srv",)),  # the next Saturday is open again
        # DST ends in Paris on Sun 2026-10-25 03:00 CEST -> 02:00 CET: 4 h of elapsed time from
        # Sat 22:00 CEST (20:00Z) end at 00:00Z, i.e. 02:00 CEST, before the clocks go back
        ("Europe/Paris", "2026-10-24T23:59Z", ("srv",)),
        ("Europe/Paris", "2026-10-25T00:00Z", ()),
        # DST starts on Sun 2027-03-28 02:00 CET -> 03:00 CEST: Sat 22:00 CET (21:00Z) + 4 h
        ("Europe/Paris", "2027-03-27T20:59Z", ()),
        ("Europe/Paris", "2027-03-27T21:00Z", ("srv",)),
        ("Europe/Paris", "2027-03-28T00:59Z", ("srv",)),
        ("Europe/Paris", "2027-03-28T01:00Z", ()),
    ],
)
def test_due_in_the_clients_time_zone(workspace, windows, tz, now, expected):
    assert due(workspace, windows, tz, now) == expected


def test_host_classes_no_patching_and_the_roles_class_order(workspace, windows):
    hosts = (
        ("srv", ("servers",)),
        ("ws", ("workstations",)),
        ("both", ("workstations", "servers")),  # servers first, as the patching role picks
        ("vendor", ("servers", "no_patching")),
        ("nas", ("nas",)),  # not a patching host class of this tier
    )
    tier = workspace.catalogue.get("silver")
    saturday_night = utc("2026-12-05T21:30Z")  # Paris Sat 22:30: servers' window
    tuesday_evening = utc("2026-12-08T18:30Z")  # Paris Tue 19:30: workstations' window
    assert fleet.due_hosts(tier, hosts, "Europe/Paris", saturday_night, windows) == (
        ("srv", "both"),
        ("srv", "ws", "both"),
    )
    assert fleet.due_hosts(tier, hosts, "Europe/Paris", tuesday_evening, windows)[0] == ("ws",)


# a fixed-offset zone has no DST: the window is open exactly from Saturday 22:00 to Sunday
# 02:00 local time, except when it started on the blackout Saturday (2026-12-26)
@settings(max_examples=300, deadline=None)
@given(
    instant=st.datetimes(
        min_value=dt.datetime(2026, 1, 1),
        max_value=dt.datetime(2028, 12, 31),
        timezones=st.just(dt.UTC),
    ),
    hours=st.integers(-12, 14),
)
def test_due_matches_local_wall_clock_in_fixed_offset_zones(workspace, windows, instant, hours):
    tz = f"Etc/GMT{-hours:+d}" if hours else "UTC"  # POSIX signs: Etc/GMT-3 is UTC+3
    local = instant + dt.timedelta(hours=hours)
    start_day = local.date() if local.weekday() == 5 else local.date() - dt.timedelta(days=1)
    expected = (
        (local.weekday() == 5 and local.hour >= 22) or (local.weekday() == 6 and local.hour < 2)
    ) and start_day != dt.date(2026, 12, 26)
    assert due(workspace, windows, tz, instant.isoformat()) == (("srv",) if expected else ())


def test_plan_fleet_isolates_a_clients_bad_input(workspace, tmp_path):
    plans = fleet.plan_fleet(workspace, utc("2026-12-05T21:30Z"), clients=["alpha", "beta", "nope"])
    by_name = {p.client: p for p in plans}
    assert by_name["alpha"].due == {"patching": ["alpha-srv"], "drift": ["alpha-srv"]}
    assert by_name["beta"].due == {"drift": ["beta-srv"]}
    assert by_name["nope"].error is not None
    assert by_name["nope"].error.exit_code == ExitCode.BAD_INPUT
    only_patching = fleet.plan_fleet(workspace, utc("2026-12-05T21:30Z"), duties=["patching"])
    assert [p.idle for p in only_patching] == [False, True]


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([], 0),
        ([0, 0], 0),
        ([0, 2], 2),
        ([2, 4], 1),  # busy: the duty was not done
        ([2, 1], 1),
        ([1, 3, 2], 3),
        ([3, 130], 130),
    ],
)
def test_exit_code_aggregation(codes, expected):
    assert fleet.aggregate(codes) == expected


@pytest.mark.parametrize("value", ["2026-12-05T21:30", "tomorrow", "2026-13-01T00:00Z"])
def test_now_needs_an_iso_instant_with_an_offset(value):
    with pytest.raises(BadInput, match="--now"):
        fleet.parse_now(value)


def test_duties():
    assert fleet.parse_duties("drift, patching,drift") == ("drift", "patching")
    with pytest.raises(BadInput, match="--duties"):
        fleet.parse_duties("patching,backups")
