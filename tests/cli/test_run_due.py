"""``mspctl run-due`` on the fleet fixture: two clients with local-connection hosts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from mspctl.errors import ExitCode
from tests.conftest import Cli

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "projects" / "fleet"
SATURDAY_NIGHT_IN_PARIS = "2026-12-05T21:30Z"  # alpha (Paris) is in its window, beta (NY) not


@pytest.fixture
def fleet_cli(tmp_path: Path) -> Cli:
    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project)
    return Cli(project, tmp_path / "home")


def runs_of(cli: Cli, client: str) -> list[dict]:
    result = cli("runs", "list", client, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_only_the_due_client_runs_and_junit_validates(fleet_cli, tmp_path):
    junit = tmp_path / "fleet.xml"
    result = fleet_cli(
        "run-due", "--now", SATURDAY_NIGHT_IN_PARIS, "--duties", "patching",
        "--junit", str(junit), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    alpha, beta = data["clients"]
    assert (alpha["status"], alpha["due"]) == ("ok", {"patching": ["alpha-srv"]})
    assert (beta["status"], beta["due"], beta["run_ids"]) == ("idle", {}, [])
    assert "alpha: ok" in result.stderr and "beta: idle" in result.stderr
    [run] = runs_of(fleet_cli, "alpha")
    assert run["id"] == alpha["run_ids"][0]
    assert (run["policies"], run["limit"], run["mode"]) == (["patching"], "alpha-srv", "apply")
    assert runs_of(fleet_cli, "beta") == []

    xml = JUnitXml.fromfile(str(junit))
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {"alpha", "beta"}
    [alpha_case] = list(suites["alpha"])
    assert alpha_case.name == "alpha-srv patching" and alpha_case.is_passed
    [beta_case] = list(suites["beta"])
    assert isinstance(beta_case.result[0], Skipped)
    assert beta_case.result[0].message == "not due"


def test_a_broken_client_is_its_own_line_and_the_others_still_run(fleet_cli, tmp_path):
    (fleet_cli.project / "inventories" / "beta" / "client.yml").write_text("name: [unclosed\n")
    junit = tmp_path / "fleet.xml"
    result = fleet_cli(
        "run-due", "--now", SATURDAY_NIGHT_IN_PARIS, "--duties", "patching",
        "--junit", str(junit),
    )  # fmt: skip
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert "beta: bad input — " in result.stderr and "client.yml" in result.stderr
    assert "alpha: ok" in result.stderr
    assert len(runs_of(fleet_cli, "alpha")) == 1
    suites = {suite.name: suite for suite in JUnitXml.fromfile(str(junit))}
    [case] = list(suites["beta"])
    assert isinstance(case.result[0], Error)


def test_a_busy_client_is_reported_busy_and_the_others_run(fleet_cli):
    from mspctl.store import Store, locks

    fleet_cli.home.mkdir(parents=True, exist_ok=True)
    store = Store.open(f"sqlite:///{fleet_cli.home / 'mspctl.db'}")
    assert locks.try_acquire(store, "alpha", "20261205T000000-test00", "tester") is None
    result = fleet_cli("run-due", "--now", SATURDAY_NIGHT_IN_PARIS, "--json")
    assert result.exit_code == ExitCode.FAILED, result.output
    alpha, beta = json.loads(result.stdout)["clients"]
    assert alpha["status"] == "busy" and "busy: run 20261205T000000-test00" in alpha["message"]
    assert (beta["status"], beta["due"]) == ("ok", {"drift": ["beta-srv"]})
    assert len(beta["run_ids"]) == 1
    assert runs_of(fleet_cli, "alpha") == []


def test_check_mode_and_client_selection(fleet_cli, tmp_path):
    junit = tmp_path / "fleet.xml"
    result = fleet_cli(
        "run-due", "--now", SATURDAY_NIGHT_IN_PARIS, "--client", "alpha", "--check",
        "--junit", str(junit), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [alpha] = json.loads(result.stdout)["clients"]
    assert alpha["due"] == {"patching": ["alpha-srv"], "drift": ["alpha-srv"]}
    runs = runs_of(fleet_cli, "alpha")
    assert [r["mode"] for r in runs] == ["check", "check"]
    assert runs_of(fleet_cli, "beta") == []
    [suite] = list(JUnitXml.fromfile(str(junit)))
    assert [case.name for case in suite] == ["alpha-srv patching", "alpha-srv drift"]
    assert all(not isinstance(r, Failure) for case in suite for r in case.result)


@pytest.mark.parametrize(
    "args",
    [("--now", "2026-12-05T21:30"), ("--duties", "backups"), ("--client", "nope")],
)
def test_bad_options_are_bad_input(fleet_cli, args):
    result = fleet_cli("run-due", *args)
    assert result.exit_code == ExitCode.BAD_INPUT, result.output


def test_the_fleet_summary_reaches_the_msp_webhook(fleet_cli, receivers):
    from tests.cli.conftest import Receiver

    receivers.append(receiver := Receiver())
    fleet_cli.env["MSPCTL_WEBHOOK_URL"] = receiver.url + "/fleet"
    result = fleet_cli("run-due", "--now", SATURDAY_NIGHT_IN_PARIS, "--duties", "patching")
    assert result.exit_code == 0, result.output
    assert "summary sent: webhook http://127.0.0.1:" in result.stderr
    [(_method, path, _headers, body)] = receiver.requests
    sent = json.loads(body)
    assert (path, sent["kind"], sent["status"]) == ("/fleet", "mspctl.summary", "ok")
    alpha, beta = sent["clients"]
    [run] = runs_of(fleet_cli, "alpha")
    assert alpha == {
        "client": "alpha", "patched": 1, "missed": 0, "caught_up": 0, "failed": 0, "drift": 0,
        "failing_controls": 0, "run_ids": [run["id"]],
    }  # fmt: skip
    assert (beta["client"], beta["patched"], beta["run_ids"]) == ("beta", 0, [])


@pytest.mark.parametrize(
    ("env", "args", "named"),
    [
        ({"MSPCTL_WEBHOOK_FORMAT": "carrier-pigeon"}, (), "MSPCTL_WEBHOOK_FORMAT"),
        ({}, ("--junit", "/nonexistent/dir/fleet.xml"), "/nonexistent/dir/fleet.xml"),
    ],
)
def test_bad_settings_or_outputs_are_bad_input_and_nothing_runs(fleet_cli, env, args, named):
    fleet_cli.env.update(env)
    result = fleet_cli("run-due", "--now", SATURDAY_NIGHT_IN_PARIS, *args)
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert named in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert runs_of(fleet_cli, "alpha") == [] and runs_of(fleet_cli, "beta") == []


def test_an_open_booking_is_a_patch_window_for_its_client(fleet_cli):
    """beta (New York) is outside its Saturday window; a booked maintenance opens one."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    start = (dt.datetime.now(ZoneInfo("America/New_York")) + dt.timedelta(days=3)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    if start.weekday() == 5:  # a Saturday 10:00 is still outside the 22:00 window; keep it simple
        start += dt.timedelta(days=1)
    booked = fleet_cli(
        "maintenance", "book", "beta", "--start", f"{start:%Y-%m-%d %H:%M}", "--duration", "2h",
        "--reason", "ERP upgrade",
    )  # fmt: skip
    assert booked.exit_code == 0, booked.output
    during = (start + dt.timedelta(minutes=30)).isoformat()
    result = fleet_cli("run-due", "--now", during, "--duties", "patching", "--json")
    assert result.exit_code == 0, result.output
    clients = {c["client"]: c for c in json.loads(result.stdout)["clients"]}
    assert clients["beta"]["due"] == {"patching": ["beta-srv"]}
    assert clients["beta"]["booking"] is not None
    assert clients["alpha"]["status"] == "idle"
    [run] = runs_of(fleet_cli, "beta")
    assert (run["policies"], run["limit"], run["status"]) == (
        ["patching"],
        "beta-srv",
        "successful",
    )
    after = (start + dt.timedelta(hours=3)).isoformat()  # the booking is over: nothing due
    later = fleet_cli("run-due", "--now", after, "--duties", "patching", "--json")
    assert later.exit_code == 0, later.output
    assert all(c["status"] == "idle" for c in json.loads(later.stdout)["clients"])
