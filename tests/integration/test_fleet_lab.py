"""The nightly fleet run on real lab hosts (issue 10's proof).

Two clients share the session lab: ``north`` (Europe/Rome, platinum) is the second lab host (a
server) and the third (a workstation), with the first as its MSP monitoring host; ``south``
(America/New_York, silver) is the first host, as its server. The fleet run is told the instant
with ``--now`` (the documented clock override, passed on to the patching role as
``patching_now``):

- Tuesday 19:30 in Rome: north's workstation window is open, every other window is closed. Only
  the workstation is patched (its patch record appears); the two other hosts are untouched; the
  JUnit file validates; the MSP's email carries the run's figures.
- Thursday 19:30, the workstation powered off: ``missed``, not a failure for a workstation.
- Friday morning, the workstation back: the first run patches it outside its window (platinum's
  ``when_back`` catch-up rule), and ``runs missed`` shows the miss caught up by that run.
- A maintenance booked for the workstation only, a minute from now: Prometheus on the monitoring
  host sees it in maintenance and every alert rule leaves it out while the server still
  alerts; the deployed collector says the maintenance ends with the booking.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from junitparser import JUnitXml, Skipped
from lab_helpers import Lab

from mspctl.lab.hosts import ssh_banner, start
from tests.cli.test_notify import Inbox, smtp_env, start_smtp

pytestmark = [pytest.mark.lab, pytest.mark.slow]

TUESDAY_EVENING_IN_ROME = "2026-12-01T18:30Z"  # 19:30 in Rome, 13:30 in New York
THURSDAY_EVENING_IN_ROME = "2026-12-03T18:30Z"
FRIDAY_MORNING = "2026-12-04T09:00Z"  # every window closed
RECORD = "/var/lib/mspctl/patching/last-run.json"
PROMETHEUS = "http://127.0.0.1:9090/api/v1"


def client_yml(name: str, timezone: str, tier: str) -> str:
    return yaml.safe_dump(
        {
            "name": name,
            "timezone": timezone,
            "contract": {"tier": tier, "start": "2026-01-01"},
        }
    )


@pytest.fixture
def fleet(lab: Lab, project: Path, cli):
    """north and south written into the test's project from the session lab's inventory."""
    inventory = yaml.safe_load(lab.inventory.read_text())["all"]
    host_vars = inventory["hosts"]
    monitor, server, workstation = sorted(lab.hosts, key=lambda h: h.index)[:3]

    def write(client: str, groups: dict[str, list[str]], timezone: str, tier: str) -> None:
        directory = project / "inventories" / client
        directory.mkdir(parents=True)
        names = sorted({h for hosts in groups.values() for h in hosts})
        hosts = {
            "all": {
                "vars": inventory.get("vars", {}),
                "hosts": {n: host_vars[n] for n in names},
                "children": {g: {"hosts": {h: {} for h in hs}} for g, hs in groups.items()},
            }
        }
        (directory / "hosts.yml").write_text(yaml.safe_dump(hosts))
        (directory / "client.yml").write_text(client_yml(client.title(), timezone, tier))

    write(
        "north",
        {
            "servers": [server.name],
            "workstations": [workstation.name],
            "msp_monitoring": [monitor.name],
        },
        "Europe/Rome",
        "platinum",
    )
    write("south", {"servers": [monitor.name]}, "America/New_York", "silver")
    return lab, monitor, server, workstation


def record(lab: Lab, host) -> dict | None:
    out = lab.ssh(host, f"cat {RECORD} 2>/dev/null || true").stdout.strip()
    return json.loads(out) if out else None


def run_due(cli, now: str, *extra: str, code: int = 0) -> dict[str, dict]:
    clients = ("--client", "north", "--client", "south")  # the project's demo client stays out
    result = cli("run-due", "--now", now, "--duties", "patching", *clients, "--json", *extra)
    assert result.exit_code == code, result.output
    return {c["client"]: c for c in json.loads(result.stdout)["clients"]}


def power_off(lab: Lab, host) -> None:
    lab.ssh(host, "systemctl poweroff", check=False, timeout=30)
    deadline = time.monotonic() + 60
    while ssh_banner(host.ip):
        assert time.monotonic() < deadline, f"{host.name} did not power off"
        time.sleep(0.5)


def power_on(lab: Lab, host) -> None:
    """Start the host again, as the lab started it, and record its new supervisor in the lab's
    state (the session lab is shared: ``lab status`` and ``down`` must see the new process)."""
    host.supervisor_pid = start(lab.state, host)
    lab.state.save()
    deadline = time.monotonic() + 120
    while lab.ssh(host, "true", check=False, timeout=30).returncode != 0:
        assert time.monotonic() < deadline, f"{host.name} did not come back"
        time.sleep(1)


def prometheus(lab: Lab, host, path: str, **params: str) -> dict:
    """Prometheus's HTTP API on the monitoring host, read there (it listens on loopback) with
    the host's Python (the lab hosts have no curl)."""
    program = (
        "import sys, urllib.parse, urllib.request; "
        "data = urllib.parse.urlencode(dict(a.split('=', 1) for a in sys.argv[2:])).encode(); "
        "print(urllib.request.urlopen(sys.argv[1], data or None, timeout=10).read().decode())"
    )
    args = " ".join(shlex.quote(f"{k}={v}") for k, v in params.items())
    out = lab.ssh(host, f"python3 -c {shlex.quote(program)} {PROMETHEUS}/{path} {args}").stdout
    data = json.loads(out)
    assert data["status"] == "success", data
    return data["data"]


def test_the_nightly_run_patches_the_due_client_misses_and_catches_up(fleet, cli, tmp_path):
    lab, monitor, server, workstation = fleet
    before = {h.name: record(lab, h) for h in (monitor, server, workstation)}

    inbox = Inbox()
    smtp = start_smtp(inbox)
    try:
        cli.env.update(smtp_env(smtp.port))
        junit = tmp_path / "fleet.xml"
        clients = run_due(cli, TUESDAY_EVENING_IN_ROME, "--junit", str(junit))
    finally:
        smtp.stop()
        for key in smtp_env(0):
            cli.env.pop(key)
    north, south = clients["north"], clients["south"]
    assert (north["status"], north["due"]) == ("ok", {"patching": [workstation.name]}), north
    assert (south["status"], south["run_ids"]) == ("idle", []), south

    patched = record(lab, workstation)
    assert patched is not None and patched != before[workstation.name]
    assert patched["forced"] is False  # patched because its window was open at --now
    assert record(lab, server) == before[server.name]  # north's server: not its window
    assert record(lab, monitor) == before[monitor.name]  # south's server: not due

    suites = {s.name: s for s in JUnitXml.fromfile(str(junit))}
    assert set(suites) == {"north", "south"}
    cases = {c.name: c for c in suites["north"]}
    assert cases[f"{workstation.name} patching"].is_passed
    assert isinstance(cases[f"{server.name} patching"].result[0], Skipped)
    assert all(isinstance(c.result[0], Skipped) for c in suites["south"])

    [(_sender, _to, mail)] = inbox.messages
    body = mail.get_content()
    rows = {line.split()[0]: line.split()[1:7] for line in body.splitlines() if line.strip()}
    # patched, missed, caught up, failed, drift, failing controls
    assert rows["north"] == ["1", "0", "0", "0", "0", "0"], body
    assert rows["south"] == ["0", "0", "0", "0", "0", "0"], body
    assert north["run_ids"][0] in body

    power_off(lab, workstation)
    try:
        thursday = run_due(cli, THURSDAY_EVENING_IN_ROME)["north"]
        assert (thursday["status"], thursday["missed"]) == ("missed", [workstation.name])
        assert thursday["exit_code"] == 0
        [miss] = cli.json("runs", "missed", "north")
        assert (miss["host"], miss["failure"], miss["caught_up_at"]) == (
            workstation.name,
            False,
            None,
        )
    finally:
        power_on(lab, workstation)

    friday = run_due(cli, FRIDAY_MORNING)["north"]
    assert (friday["status"], friday["catch_up"]) == ("ok", [workstation.name]), friday
    caught = record(lab, workstation)
    assert caught["last_run"] > patched["last_run"] and caught["forced"] is True
    [miss] = cli.json("runs", "missed", "north")
    assert miss["caught_up_run"] == friday["run_ids"][0]
    assert run_due(cli, FRIDAY_MORNING)["north"]["status"] == "idle"  # nothing left to catch up


COLLECT_NOW = (
    "for try in 1 2 3; do systemctl start mspctl-monitoring-collect.service && exit 0; sleep 3;"
    " done; journalctl --unit mspctl-monitoring-collect.service --lines 30 --no-pager; exit 1"
)


def test_a_booked_maintenance_silences_the_booked_host_for_its_duration(fleet, cli):
    from mspctl.policies import window_parser

    lab, monitor, server, workstation = fleet
    rome = ZoneInfo("Europe/Rome")
    start_at = (dt.datetime.now(rome) + dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
    booked = cli(
        "maintenance", "book", "north", "--start", f"{start_at:%Y-%m-%d %H:%M}",
        "--duration", "15m", "--hosts", workstation.name, "--reason", "ERP upgrade (lab test)",
        "--json",
    )  # fmt: skip
    assert booked.exit_code == 0, booked.output
    end_at = start_at + dt.timedelta(minutes=15)

    applied = cli("apply", "north", "--policy", "monitoring", "--json")
    assert applied.exit_code == 0, applied.output

    # wait for the booking to start, run the collector and let Prometheus scrape it
    while dt.datetime.now(rome) < start_at + dt.timedelta(seconds=2):
        time.sleep(1)
    for host in (server, workstation):
        # as the unit's Restart=on-failure does for the timer (a transient cgroup error in a
        # container fails a run now and then), but `systemctl start` reports the first failure:
        # up to three tries, then the journal in the assertion
        lab.ssh(host, COLLECT_NOW)
    client = 'mspctl_client="north"'
    deadline = time.monotonic() + 180
    while True:
        found = prometheus(
            lab, monitor, "query", query=f"mspctl_maintenance_end_timestamp_seconds{{{client}}} > 0"
        )["result"]
        in_maintenance = {
            r["metric"]["instance"].split(":")[0]: float(r["value"][1]) for r in found
        }
        # and both hosts scraped at least once: on a Prometheus this test installed a moment
        # ago, the workstation's first scrape can come before the server's (staggered targets)
        scraped = {
            r["metric"]["instance"].split(":")[0]
            for r in prometheus(lab, monitor, "query", query=f'up{{job="mspctl", {client}}}')[
                "result"
            ]
        }
        if (workstation.name in in_maintenance and {server.name, workstation.name} <= scraped) or (
            time.monotonic() > deadline
        ):
            break
        time.sleep(3)
    assert in_maintenance.get(workstation.name, 0) >= end_at.timestamp(), in_maintenance

    # every alert rule of the client carries the same silence clause; evaluate it
    groups = prometheus(lab, monitor, "rules")["groups"]
    queries = [r["query"] for g in groups for r in g["rules"] if client in r["query"]]
    assert queries, groups
    assert all("unless" in q and "mspctl_maintenance_end_timestamp_seconds" in q for q in queries)
    loud = prometheus(
        lab,
        monitor,
        "query",
        query=f'up{{job="mspctl", {client}}} unless on (mspctl_client, instance) '
        f"(last_over_time(mspctl_maintenance_end_timestamp_seconds{{{client}}}[1d]) > time())",
    )["result"]
    alerting = {r["metric"]["instance"].split(":")[0] for r in loud}
    assert server.name in alerting and workstation.name not in alerting, alerting

    # and not after: the deployed collector, evaluated a minute after the booking ends
    collector = "/usr/local/lib/mspctl/monitoring/mspctl-monitoring-collect"
    after = (end_at + dt.timedelta(minutes=1)).astimezone(dt.UTC)
    out = lab.ssh(workstation, f"{collector} --stdout --now {after.isoformat()}").stdout
    root = Path(__file__).resolve().parents[2]
    engine = window_parser(root)
    assert engine is not None
    tier = yaml.safe_load((root / "tiers" / "silver.yml").read_text())  # platinum's windows
    spec = tier["policies"]["patching"]["windows"]["workstations"]
    # a workstation patch window may be open then (CI on a Tuesday evening): it counts too
    tier_window_open = engine.is_open(
        engine.parse_window({**spec, "timezone": "Europe/Rome"}), after
    )
    assert f"mspctl_maintenance {int(tier_window_open)}" in out.splitlines(), out
