"""mspctl.policy.network_config against a real simulated Cisco switch (fake-switches).

The module runs through the unit harness (``main()`` with its arguments), talking SSH to a
fake-switches process started for the test: backup and normalisation, findings, check mode that
writes nothing, remediation and its idempotence, drift made by hand, and the failures a
technician meets (wrong password, nothing listening, an unknown device type).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.modules import network_config
from ansible_collections.mspctl.policy.tests.unit.plugins.modules.helper import (
    FINDING_KEYS,
    run_module,
)
from fakeswitch import CONTROLS as SWITCH_CONTROLS
from fakeswitch import PASSWORD, USERNAME, FakeSwitch, configure, free_port

CONTROLS = [{"id": "sw.hostname", "type": "required", "line": "hostname sw1"}, *SWITCH_CONTROLS]


def args(switch: FakeSwitch, **extra: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": switch.port,
        "username": USERNAME,
        "password": PASSWORD,
        "timeout": 10,
        "controls": CONTROLS,
        **extra,
    }


def by_id(result: dict[str, Any]) -> dict[str, str]:
    return {f["control_id"]: f["status"] for f in result["findings"]}


def test_backup_is_normalised_and_stable(switch: FakeSwitch) -> None:
    first = run_module(network_config, args(switch, controls=[], remediate=False))
    second = run_module(network_config, args(switch, controls=[], remediate=False))
    assert first["changed"] is False, first
    assert "Current configuration" not in first["config"]
    assert "Building configuration" not in first["config"]
    assert first["config"].startswith("version ")
    assert "hostname sw1" in first["config"]
    assert first["config_sha256"] == second["config_sha256"]
    assert first["asset"]["model"] == "WS-C3750G-24TS-1U"
    assert first["asset"]["serial"] == "FOC1530X2F7"
    assert first["asset"]["os"]["version"] == "12.2(58)SE2"
    assert first["asset"]["os"]["image"] == "C3750-IPSERVICESK9-M"  # only TextFSM gives it
    assert first["asset"]["uptime"]
    assert PASSWORD not in json.dumps(first)


def test_check_mode_shows_the_fix_and_writes_nothing(switch: FakeSwitch) -> None:
    result = run_module(network_config, args(switch), check=True, diff=True)
    assert result["changed"] is True, result
    assert by_id(result) == {
        "sw.hostname": "pass",
        "sw.vlan_users": "fail",
        "sw.uplink_description": "fail",
        "sw.no_shutdown_fa2": "pass",
    }
    assert all(set(f) == FINDING_KEYS for f in result["findings"])
    assert result["commands"] == [
        "vlan 10",
        "interface FastEthernet0/1",
        "description uplink",
        "exit",
    ]
    after = result["diff"]["after"].splitlines()
    assert "vlan 10" in after
    assert after[after.index("interface FastEthernet0/1") + 1] == " description uplink"
    # nothing was sent: the device still fails both controls
    again = run_module(network_config, args(switch, remediate=False))
    assert again["changed"] is False
    assert by_id(again)["sw.uplink_description"] == "fail"
    assert again["config"] == result["config"]


def test_apply_fixes_then_changes_nothing_and_drift_is_found(switch: FakeSwitch) -> None:
    applied = run_module(network_config, args(switch), diff=True)
    assert applied["changed"] is True, applied
    assert applied["rejected"] == []
    assert set(by_id(applied).values()) == {"pass"}
    assert " description uplink" in applied["config"].splitlines()

    again = run_module(network_config, args(switch), diff=True)
    assert again["changed"] is False, again
    assert again["commands"] == []
    assert "diff" not in again
    assert again["config_sha256"] == applied["config_sha256"]

    configure(switch, ["interface FastEthernet0/2", "shutdown", "exit"])
    drift = run_module(network_config, args(switch), check=True, diff=True)
    assert drift["changed"] is True
    assert by_id(drift)["sw.no_shutdown_fa2"] == "fail"
    failing = next(f for f in drift["findings"] if f["control_id"] == "sw.no_shutdown_fa2")
    assert failing["evidence"]["lines"] == ["interface FastEthernet0/2: shutdown"]
    assert drift["commands"] == ["interface FastEthernet0/2", "no shutdown", "exit"]
    assert " shutdown" in drift["diff"]["before"].splitlines()


def test_a_refused_line_is_an_error_finding_not_a_crash(switch: FakeSwitch) -> None:
    controls = [{"id": "ios.encryption", "type": "required", "line": "service password-encryption"}]
    result = run_module(network_config, args(switch, controls=controls))
    assert result["changed"] is False, result
    assert result["rejected"] == ["No such command : service password-encryption"]
    assert by_id(result) == {"ios.encryption": "fail", "network.push": "error"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"password": "wrong-password"}, "authentication failed at 127.0.0.1:"),
        ({"device_type": "juniper_junos"}, "unsupported device type 'juniper_junos'"),
    ],
)
def test_clear_failures(switch: FakeSwitch, override: dict[str, Any], message: str) -> None:
    result = run_module(network_config, {**args(switch), **override})
    assert result["failed"] is True
    assert message in result["msg"], result
    assert "Traceback" not in json.dumps(result)
    assert PASSWORD not in json.dumps(result)


def test_nothing_listening_is_a_clear_failure() -> None:
    port = free_port()
    result = run_module(
        network_config,
        {"host": "127.0.0.1", "port": port, "username": "u", "password": "p", "timeout": 3},
    )
    assert result["failed"] is True
    assert result["msg"].startswith("cannot "), result
    assert f"127.0.0.1:{port}" in result["msg"]
    assert "Traceback" not in json.dumps(result)
