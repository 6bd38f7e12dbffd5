"""Missed patch windows on the fleet fixture: a host unreachable while its window is open is
``missed`` (a failure only for the classes the tier says), and a later run catches it up by the
tier's rule (``when_back``: the first run it answers; ``next_window``: its next window).

The fixture's alpha (Europe/Paris) grows a workstation, ``alpha-ws``, whose Tuesday/Thursday
19:00 window is open on the Tuesday below; "switched off" is an SSH port nothing listens on (the
connection is refused: Ansible's ``unreachable``), "back" is the local connection again.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from junitparser import JUnitXml, Skipped

from mspctl.errors import ExitCode
from tests.conftest import Cli

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "projects" / "fleet"
TUESDAY_EVENING_IN_PARIS = "2026-12-01T18:30Z"  # 19:30 in Paris: the workstations' window
WEDNESDAY_MORNING = "2026-12-02T09:00Z"  # every window closed
THURSDAY_EVENING_IN_PARIS = "2026-12-03T18:30Z"
SATURDAY_NIGHT_IN_PARIS = "2026-12-05T21:30Z"  # the servers' window
TWO_WEEKS_LATER = "2026-12-16T09:00Z"  # a Wednesday: windows closed, the miss 15 days old


def closed_port() -> socket.socket:
    """A loopback port bound and never listening: connections to it are refused. The socket is
    kept for the test's life, so no other process can take the port meanwhile."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def local() -> dict:
    return {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
    }


def switched_off(port: int) -> dict:
    return {
        "ansible_connection": "ssh",
        "ansible_host": "127.0.0.1",
        "ansible_port": port,
        "ansible_ssh_common_args": "-o ConnectTimeout=3 -o BatchMode=yes",
    }


class Fleet:
    def __init__(self, root: Path, catch_up: str) -> None:
        self.project = root / "project"
        shutil.copytree(FIXTURE, self.project)
        self.cli = Cli(self.project, root / "home")
        tier = self.project / "tiers" / "silver.yml"
        data = yaml.safe_load(tier.read_text())
        data["policies"]["patching"]["missed"] = {
            "fail_classes": ["servers"],
            "catch_up": catch_up,
            "catch_up_days": 7,
        }
        tier.write_text(yaml.safe_dump(data))
        self.closed = closed_port()
        self.port = int(self.closed.getsockname()[1])

    def set_hosts(self, *, ws_up: bool, srv_up: bool = True) -> None:
        hosts = {
            "all": {
                "children": {
                    "servers": {
                        "hosts": {"alpha-srv": local() if srv_up else switched_off(self.port)}
                    },
                    "workstations": {
                        "hosts": {"alpha-ws": local() if ws_up else switched_off(self.port)}
                    },
                }
            }
        }
        path = self.project / "inventories" / "alpha" / "hosts.yml"
        path.write_text(yaml.safe_dump(hosts))

    def run_due(self, now: str, *args: str, code: int = 0) -> dict:
        result = self.cli(
            "run-due", "--now", now, "--duties", "patching", "--client", "alpha", "--json", *args
        )
        assert result.exit_code == code, result.output
        [alpha] = json.loads(result.stdout)["clients"]
        return alpha

    def missed(self) -> list[dict]:
        result = self.cli("runs", "missed", "alpha", "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def runs(self) -> list[dict]:
        result = self.cli("runs", "list", "alpha", "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def when_back(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path, "when_back")
    yield fleet
    fleet.closed.close()


@pytest.fixture
def next_window(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path, "next_window")
    yield fleet
    fleet.closed.close()


def test_a_switched_off_workstation_is_missed_then_caught_up_when_back(when_back, tmp_path):
    fleet = when_back
    fleet.set_hosts(ws_up=False)
    junit = tmp_path / "fleet.xml"
    alpha = fleet.run_due(TUESDAY_EVENING_IN_PARIS, "--junit", str(junit))
    assert (alpha["status"], alpha["exit_code"]) == ("missed", 0), alpha
    assert (alpha["due"], alpha["missed"]) == ({"patching": ["alpha-ws"]}, ["alpha-ws"])
    [case] = [c for c in next(iter(JUnitXml.fromfile(str(junit)))) if c.name == "alpha-ws patching"]
    assert isinstance(case.result[0], Skipped)
    assert case.result[0].message == "missed: unreachable, not a failure for workstations"
    [miss] = fleet.missed()
    assert (miss["host"], miss["host_class"], miss["failure"]) == (
        "alpha-ws",
        "workstations",
        False,
    )
    assert miss["missed_at"].startswith("2026-12-01T18:30") and miss["caught_up_at"] is None
    assert miss["run_id"] == alpha["run_ids"][0]

    # still off the next morning: it is tried again, and is still just missed (no new miss)
    again = fleet.run_due(WEDNESDAY_MORNING)
    assert (again["status"], again["catch_up"]) == ("missed", ["alpha-ws"]), again
    assert len(fleet.missed()) == 1

    fleet.set_hosts(ws_up=True)  # back: the next run patches it, outside its window
    back = fleet.run_due(WEDNESDAY_MORNING)
    assert (back["status"], back["due"], back["catch_up"]) == (
        "ok",
        {"patching": ["alpha-ws"]},
        ["alpha-ws"],
    ), back
    [miss] = fleet.missed()
    assert miss["caught_up_run"] == back["run_ids"][0]
    assert miss["caught_up_how"] == "patched outside its window"
    newest = fleet.runs()[0]
    assert (newest["id"], newest["limit"], newest["status"]) == (
        back["run_ids"][0],
        "alpha-ws",
        "successful",
    )

    # caught up: nothing is due any more until its next window
    assert fleet.run_due(WEDNESDAY_MORNING)["status"] == "idle"


def test_a_miss_older_than_the_catch_up_days_waits_for_the_next_window(when_back):
    fleet = when_back
    fleet.set_hosts(ws_up=False)
    fleet.run_due(TUESDAY_EVENING_IN_PARIS)
    fleet.set_hosts(ws_up=True)
    assert fleet.run_due(TWO_WEEKS_LATER)["status"] == "idle"
    assert fleet.missed()[0]["caught_up_at"] is None


def test_next_window_catches_up_in_the_next_window_only(next_window):
    fleet = next_window
    fleet.set_hosts(ws_up=False)
    assert fleet.run_due(TUESDAY_EVENING_IN_PARIS)["status"] == "missed"
    fleet.set_hosts(ws_up=True)
    assert fleet.run_due(WEDNESDAY_MORNING)["status"] == "idle"  # back, but no window open
    thursday = fleet.run_due(THURSDAY_EVENING_IN_PARIS)
    assert (thursday["status"], thursday["catch_up"], thursday["due"]) == (
        "ok",
        [],
        {"patching": ["alpha-ws"]},
    )
    [miss] = fleet.missed()
    assert miss["caught_up_run"] == thursday["run_ids"][0]
    assert miss["caught_up_how"] == "patched in its next window"


def test_a_server_missing_its_window_fails_the_run_and_is_recorded(next_window, tmp_path):
    fleet = next_window
    fleet.set_hosts(ws_up=True, srv_up=False)
    junit = tmp_path / "fleet.xml"
    alpha = fleet.run_due(SATURDAY_NIGHT_IN_PARIS, "--junit", str(junit), code=ExitCode.FAILED)
    assert (alpha["status"], alpha["missed"]) == ("failed", []), alpha
    assert "alpha-srv" in alpha["message"]
    [miss] = fleet.missed()
    assert (miss["host"], miss["host_class"], miss["failure"]) == ("alpha-srv", "servers", True)
    [case] = [
        c for c in next(iter(JUnitXml.fromfile(str(junit)))) if c.name == "alpha-srv patching"
    ]
    assert not case.is_passed and not case.is_skipped


def test_check_mode_records_no_miss(when_back):
    when_back.set_hosts(ws_up=False)
    alpha = when_back.run_due(TUESDAY_EVENING_IN_PARIS, "--check")
    assert alpha["missed"] == ["alpha-ws"]
    assert when_back.missed() == []


def test_the_planner_default_is_the_patching_roles_default():
    from mspctl.fleet import DEFAULT_MISSED

    defaults = Path(__file__).resolve().parents[2] / "roles" / "patching" / "defaults" / "main.yml"
    assert yaml.safe_load(defaults.read_text())["patching_missed"] == DEFAULT_MISSED
