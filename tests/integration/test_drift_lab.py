"""Compliance and drift on real lab hosts, end to end (the platinum tier on 3 hosts):

apply → drift exits 0; stop the node exporter on one host and edit a managed file on another →
drift exits 2 naming exactly those hosts, policies and the file with a diff; apply heals both;
diff shows both as fixed; the reports validate. No run of it causes a deprecation warning (but
Mitogen's strategy one), on either supported ansible-core: every role of the tier ran.
"""

from __future__ import annotations

import json
import os

import jsonschema
import pytest
from deprecations import assert_no_deprecation_but_mitogen
from lab_helpers import Lab, require_lab, test_lab_name

from mspctl.lab import LabState
from mspctl.reports import SCHEMA

pytestmark = [pytest.mark.lab, pytest.mark.slow]
LAB_DISTRO = os.environ.get("MSPCTL_LAB_DISTRO", "bookworm")
TIMER = "/etc/systemd/system/mspctl-backup.timer"


@pytest.fixture
def platinum_lab(cli):
    require_lab()
    name = test_lab_name("drift")
    result = cli("lab", "up", "3", "--name", name, "--distro", LAB_DISTRO)
    assert result.exit_code == 0, result.output
    try:
        state = LabState.load(name)
        assert state is not None
        yield name, Lab(state)
    finally:
        cli("lab", "down", "--name", name)


def _json(result, code):
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_drift_is_found_named_healed_and_reported(cli, platinum_lab):
    name, lab = platinum_lab
    # onboarding: the first apply patches now (a fresh host has pending updates, never patched)
    applied = _json(cli("apply", name, "--tier", "platinum", "--force-window", "--json"), 0)
    assert set(applied["policies"]) >= {
        "assets",
        "patching",
        "backup_agent",
        "monitoring",
        "printers",
        "baseline",
    }
    again = _json(cli("apply", name, "--tier", "platinum", "--json"), 0)
    assert again["changed"] == 0, again
    clean = _json(cli("drift", name, "--tier", "platinum", "--json"), 0)
    assert clean["drift"] == [] and clean["failing_controls"] == []

    by_index = sorted(lab.hosts, key=lambda h: h.index)
    monitored, edited = by_index[2], by_index[1]  # a workstation, a server (backed up)
    lab.ssh(monitored, "systemctl stop prometheus-node-exporter")
    lab.ssh(
        edited,
        f"sed -i 's/^Persistent=.*/Persistent=false/' {TIMER} && grep -q Persistent=false {TIMER}",
    )

    found = _json(cli("drift", name, "--tier", "platinum", "--json"), 2)
    drifted = {(c["host"], c["policy"]) for c in found["drift"]}
    assert drifted == {(monitored.name, "monitoring"), (edited.name, "backup_agent")}, found
    assert found["pending_changes"] == []
    timer_diffs = [c["diff"] for c in found["drift"] if c["host"] == edited.name]
    assert any(TIMER in d and "Persistent=false" in d for d in timer_diffs), timer_diffs
    failing = {(f["host"], f["control_id"]) for f in found["failing_controls"]}
    assert (monitored.name, "monitoring.agent_running") in failing
    assert {host for host, _ in failing} <= {monitored.name, edited.name}

    _json(cli("apply", name, "--tier", "platinum", "--json"), 0)
    lab.ssh(monitored, "systemctl is-active prometheus-node-exporter")
    lab.ssh(edited, f"! grep -q Persistent=false {TIMER}")

    diff = _json(cli("diff", name, "--json"), 0)
    fixed_hosts = {f["host"] for f in diff["fixed"]}
    assert fixed_hosts == {monitored.name, edited.name}, diff["fixed"]
    assert any(f["control_id"] == "monitoring.agent_running" for f in diff["fixed"])
    assert diff["newly_failing"] == []

    report = json.loads(cli("report", name, "--format", "json").stdout)
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    assert report["summary"]["fail"] == 0, report["failing"]
    assert set(report["policies"]) >= {"assets", "backup_agent", "monitoring", "baseline"}

    # every apply and drift run above: no deprecation from the tier's roles and plugins
    assert_no_deprecation_but_mitogen(cli.home)

    # the monthly report of these real runs, with the month's availability read from the real
    # Prometheus on the monitoring host, its past hours backfilled with promtool
    month_report_of_the_lab(cli, name, lab)


def month_report_of_the_lab(cli, name: str, lab: Lab) -> None:
    import datetime as dt
    import time
    from zoneinfo import ZoneInfo

    import yaml

    monitor = min(lab.hosts, key=lambda h: h.index)
    client_file = cli.project / "inventories" / name / "client.yml"
    data = yaml.safe_load(client_file.read_text())
    data["monitoring"] = {"prometheus_url": f"http://{monitor.ip}:9090"}
    client_file.write_text(yaml.safe_dump(data))
    zone = ZoneInfo(data["timezone"])

    def month_of(run: dict) -> str:
        return f"{dt.datetime.fromisoformat(run['started_at']).astimezone(zone):%Y-%m}"

    # the month (where the client is) of the test's last run: now's month, unless the month
    # turned after that run
    recorded = cli.json("runs", "list", name, "-n", "1000")
    month = max(month_of(r) for r in recorded)
    first = dt.datetime.strptime(f"{month}-01", "%Y-%m-%d").replace(tzinfo=zone)
    start = first.astimezone(dt.UTC)
    after = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1).astimezone(dt.UTC)
    # one sample an hour from the month's start to 3 hours ago: every host up, except the
    # second server, down for the last 5 of those hours (Debian's Prometheus keeps 15 days:
    # older samples of a long month are dropped by its retention)
    hours = int((min(dt.datetime.now(dt.UTC), after) - start).total_seconds() // 3600) - 2
    down_host = sorted(lab.hosts, key=lambda h: h.index)[1].name
    down_hours = min(5, max(hours, 0))
    lines = ["# TYPE up gauge"]
    for host in sorted(h.name for h in lab.hosts):
        for hour in range(max(hours, 0)):
            value = 0 if host == down_host and hour >= hours - down_hours else 1
            stamp = int((start + dt.timedelta(hours=hour)).timestamp())
            labels = f'job="mspctl",mspctl_client="{name}",instance="{host}"'
            lines.append(f"up{{{labels}}} {value} {stamp}")
    lines.append("# EOF")
    if hours > 0:
        import subprocess

        from mspctl.lab.hosts import ssh_command

        data_dir = "/var/lib/prometheus/metrics2"  # Debian's prometheus --storage.tsdb.path
        upload = subprocess.run(
            ssh_command(lab.state, monitor, "cat > /tmp/month.om"),
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert upload.returncode == 0, upload.stderr
        lab.ssh(
            monitor,
            f"promtool tsdb create-blocks-from openmetrics /tmp/month.om {data_dir} && "
            f"chown -R prometheus:prometheus {data_dir} && systemctl restart prometheus",
            timeout=300,
        )
        time.sleep(5)  # Prometheus opens the new blocks as it starts

    result = cli("report", name, "--month", month, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    runs = [r for r in recorded if month_of(r) == month]
    # every run of the test, unless the month turned during the test (then its last ones)
    least = 5 if len(runs) == len(recorded) else 1
    assert report["summary"]["runs"] == len(runs) >= least, (report["summary"], len(runs))
    assert report["summary"]["hosts"] == len(lab.hosts)
    monitoring = report["monitoring"]
    assert monitoring["status"] == "ok", monitoring
    if hours > 0:
        availability = {h["host"]: h for h in monitoring["hosts"]}
        assert set(availability) == {h.name for h in lab.hosts}, availability
        for host, row in availability.items():
            assert row["samples"] >= min(hours, 14 * 24), row  # within the retention
            if host != down_host:
                assert row["availability"] == 100.0, row
        assert availability[down_host]["availability"] < 100.0

    html = cli.project / "month.html"
    rendered = cli("report", name, "--month", month, "--lang", "it", "-o", str(html))
    assert rendered.exit_code == 0, rendered.output
    text = html.read_text()
    assert "Rapporto mensile di servizio" in text, text[:500]
