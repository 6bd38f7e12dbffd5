"""mspctl against a real simulated switch: apply, drift, configs, diff, restore.

A client whose `network` group holds one fake-switches device on 127.0.0.1. The tier's IOS
controls are replaced by ones the simulator can hold (it knows vlans and interfaces, not global
service lines), set in the client's inventory as a real client would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from fakeswitch import CONTROLS, PASSWORD, FakeSwitch, configure, free_port, write_client

from mspctl.reports import SCHEMA


def make_client(project: Path, port: int, password: str = PASSWORD, tier: str = "gold") -> Path:
    return write_client(
        project / "inventories" / "netlab",
        {"sw1": port},
        tier=tier,
        password=password,
        network_vars={"network_timeout": 10, "network_extra_controls": CONTROLS},
    )


def run_json(cli: Any, *args: str, code: int = 0) -> dict[str, Any]:
    result = cli(*args, "--json")
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_apply_backup_drift_diff_and_restore(cli: Any, project: Path, switch: FakeSwitch) -> None:
    make_client(project, switch.port)
    first = run_json(cli, "apply", "netlab", "--policy", "network")
    assert first["changed"] == 1, first
    versions = cli.json("configs", "list", "netlab", "sw1")
    assert len(versions) == 1
    assert versions[0]["run_id"] == first["run_id"]
    shown = cli("configs", "show", "netlab", "sw1")
    assert shown.exit_code == 0, shown.output
    assert " description uplink" in shown.stdout.splitlines()
    assert "Current configuration" not in shown.stdout

    second = run_json(cli, "apply", "netlab", "--policy", "network")
    assert second["changed"] == 0, second
    assert len(cli.json("configs", "list", "netlab", "sw1")) == 1  # deduplicated

    clean = run_json(cli, "drift", "netlab", "--policy", "network")
    assert clean["drift"] == [] and clean["failing_controls"] == []

    configure(switch, ["interface FastEthernet0/2", "shutdown", "exit"])  # by hand
    drift = run_json(cli, "drift", "netlab", "--policy", "network", code=2)
    assert [d["host"] for d in drift["drift"]] == ["sw1"]
    assert "+ shutdown" not in drift["drift"][0]["diff"]
    assert "- shutdown" in drift["drift"][0]["diff"]  # the check run would remove it
    failing = drift["failing_controls"]
    assert [(f["host"], f["control_id"]) for f in failing] == [("sw1", "sw.no_shutdown_fa2")]
    assert failing[0]["evidence"]["lines"] == ["interface FastEthernet0/2: shutdown"]
    text = cli("drift", "netlab", "--policy", "network")
    assert text.exit_code == 2, text.output
    assert "sw1" in text.output and "shutdown" in text.output

    # the check run backed up the changed configuration: a second version, and its diff
    versions = cli.json("configs", "list", "netlab", "sw1")
    assert len(versions) == 2
    changed = cli.json("configs", "diff", "netlab", "sw1")
    assert "+ shutdown" in changed["diff"]
    compliance = cli.json("diff", "netlab", "--from", second["run_id"])
    assert [c["host"] for c in compliance["config_changes"]] == ["sw1"]
    assert compliance["config_changes"][0]["summary"] == "+1 -0"

    # restore the first version: check shows it, then it is pushed, then no drift is left
    first_version = versions[-1]["version"]
    checked = run_json(
        cli, "configs", "restore", "netlab", "sw1", "--version", first_version, "--check", code=2
    )
    assert "- shutdown" in checked["diff"], checked
    assert run_json(cli, "drift", "netlab", "--policy", "network", code=2)["drift"]
    restored = run_json(cli, "configs", "restore", "netlab", "sw1", "--version", first_version)
    assert restored["changed"] is True, restored
    after = run_json(cli, "drift", "netlab", "--policy", "network")
    assert after["drift"] == [] and after["failing_controls"] == []

    # the report lists the device's asset record and its configuration version
    report = json.loads(cli("report", "netlab", "--format", "json").stdout)
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    [device] = report["network_devices"]
    assert device["host"] == "sw1"
    assert (device["model"], device["serial"]) == ("WS-C3750G-24TS-1U", "FOC1530X2F7")
    assert device["os_version"] == "12.2(58)SE2" and device["uptime"]
    assert device["config_version"] == cli.json("configs", "list", "netlab")[0]["version"]
    for fmt in ("html", "md"):
        rendered = cli("report", "netlab", "--format", fmt)
        assert rendered.exit_code == 0, rendered.output
        assert "Network devices" in rendered.stdout and "FOC1530X2F7" in rendered.stdout

    # the password is nowhere: not in the database, the artifacts, the stored configurations
    home = Path(cli.env["MSPCTL_HOME"])
    for path in home.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_wrong_password_fails_the_device_clearly(
    cli: Any, project: Path, switch: FakeSwitch
) -> None:
    make_client(project, switch.port, password="not-the-password")
    result = cli("apply", "netlab", "--policy", "network")
    assert result.exit_code == 1, result.output
    assert "sw1" in result.output
    assert "Traceback" not in result.output
    run = cli.json("runs", "show", cli.json("runs", "list", "netlab")[0]["id"])
    messages = [t["message"] for t in run["tasks"] if t["status"] == "failed"]
    assert messages and "authentication failed" in messages[0], run


def test_closed_port_fails_the_device_clearly(cli: Any, project: Path) -> None:
    make_client(project, free_port())
    result = cli("drift", "netlab", "--policy", "network", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["failed_hosts"] == ["sw1"]
    run = cli.json("runs", "show", report["run_id"])
    messages = [t["message"] for t in run["tasks"] if t["status"] == "failed"]
    assert messages and messages[0].startswith("cannot "), run


def test_bronze_reports_without_changing_and_waivers_apply(
    cli: Any, project: Path, switch: FakeSwitch
) -> None:
    client = make_client(project, switch.port, tier="bronze")  # remediate: false
    drift = run_json(cli, "drift", "netlab", "--policy", "network", code=2)
    assert drift["drift"] == []  # nothing would be pushed
    failing = {f["control_id"] for f in drift["failing_controls"]}
    assert failing == {"sw.vlan_users", "sw.uplink_description"}
    first = run_json(cli, "apply", "netlab", "--policy", "network")
    assert first["changed"] == 0  # bronze reports, never changes a device
    (client / "waivers.yml").write_text(
        yaml.safe_dump(
            {
                "waivers": [
                    {
                        "control": "sw.*",
                        "hosts": ["sw1"],
                        "justification": "Switch replaced next month",
                        "approved_by": "Jane Doe",
                        "expires": "2099-12-31",
                    }
                ]
            }
        )
    )
    waived = run_json(cli, "drift", "netlab", "--policy", "network")
    assert waived["failing_controls"] == []
