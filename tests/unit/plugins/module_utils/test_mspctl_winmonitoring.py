"""The monitoring policy on Windows (mspctl_winmonitoring), from recorded probe outputs
(``probes/monitoring-*.json``, documented in ``probes/README.md``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_winmonitoring as wm
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    probe_output,
)

PROBES = Path(__file__).parent / "probes"
PARAMS: dict[str, Any] = {
    "service": "windows_exporter",
    "rule": "mspctl-windows-exporter",
    "port": 9182,
    "allowed_addresses": ["192.0.2.5"],
    "checks": ["disk_usage", "failed_units"],
    "disk_crit_percent": 95,
    "msp_hook": {"server": "msp-mon", "target": "192.0.2.20:9182", "target_file": "/t.yml"},
    "url": "http://127.0.0.1:9182/metrics",
}


def judge(name: str, **params: Any) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    recorded = json.loads((PROBES / f"monitoring-{name}.json").read_text())
    findings, status = wm.evaluate({**PARAMS, **params}, wm.parse_probe(probe_output(recorded)))
    return {f["control_id"]: f for f in findings}, status


def test_running_exporter_passes_and_reports_lettered_volumes_only():
    findings, status = judge("running")
    assert {c: f["status"] for c, f in findings.items()} == {
        "monitoring.agent_running": "pass",
        "monitoring.firewall_rule": "pass",
        "monitoring.metrics_exposed": "pass",
        "monitoring.disk_usage": "pass",
        "monitoring.msp_hook": "pass",
    }
    assert status["disks"] == [
        {"mountpoint": "C:", "used_percent": 66.3},
        {"mountpoint": "D:", "used_percent": 90.0},
    ]
    assert findings["monitoring.metrics_exposed"]["evidence"]["mspctl_metrics"] == [
        "mspctl_disk_crit_ratio",
        "mspctl_disk_warn_ratio",
        "mspctl_host_info",
    ]


def test_a_full_volume_fails_the_disk_control():
    findings, _ = judge("running", disk_crit_percent=85)
    assert findings["monitoring.disk_usage"]["status"] == "fail"
    assert findings["monitoring.disk_usage"]["evidence"] == {"above": ["D:"]}


def test_a_rule_open_to_another_address_fails():
    findings, _ = judge("running", allowed_addresses=["198.51.100.7"])
    assert findings["monitoring.firewall_rule"]["status"] == "fail"


def test_nothing_installed_fails_every_control_with_the_reason():
    findings, _ = judge("not-installed")
    assert findings["monitoring.agent_running"]["actual"] == "not installed"
    assert findings["monitoring.firewall_rule"]["actual"] == "no such rule"
    assert findings["monitoring.metrics_exposed"]["actual"] == (
        "scrape failed: Unable to connect to the remote server"
    )
    assert "monitoring.disk_usage" not in findings  # nothing to judge it from


def test_a_failed_probe_is_an_error():
    findings, status = wm.evaluate(PARAMS, ProbeError("Access is denied"))
    assert [f["status"] for f in findings] == ["error", "error", "error", "pass"]
    assert status["error"] == "Access is denied"


def test_samples_read_the_text_format():
    assert wm.samples(["# HELP x y", 'a{b="c\\"d"} 1e3', "bad line", "x NaN"])[0] == (
        "a",
        {"b": 'c\\"d'},
        1000.0,
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [({"service": "Running"}, "service"), ({"firewall": {"local_port": 9182}}, "local_port")],
)
def test_malformed_probe_names_the_field(data, field):
    with pytest.raises(ProbeError, match=field):
        wm.parse_probe(data)
