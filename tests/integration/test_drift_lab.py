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
