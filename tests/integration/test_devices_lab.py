"""Devices without an agent beside real lab hosts, end to end (the platinum tier):

``mspctl lab up 1 --devices`` starts a simulated switch (fake-switches), NAS and printer
(snmpsim) next to the Linux host; apply platinum → the MSP monitoring host's snmp_exporter polls
the NAS and printer, the network policy backs up the switch; a second apply changes nothing.
Then the test degrades the NAS's RAID and empties the printer's toner in their recordings: the
alerts fire in the monitoring host's real Prometheus within two scrapes (the scrape interval is
shortened through the role variable), and the devices' findings fail in the next check run and
in the report. Last, a port of the switch shut by hand is drift naming the switch and the line,
and ``diff`` shows the configuration change. ``lab down`` ends the simulators by PID.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import fakeswitch
import jsonschema
import pytest
from lab_helpers import Lab, require_lab, test_lab_name

from mspctl.lab import LabState, devices
from mspctl.lab._system import pid_alive
from mspctl.reports import SCHEMA

pytestmark = [pytest.mark.lab, pytest.mark.slow]
LAB_DISTRO = os.environ.get("MSPCTL_LAB_DISTRO", "bookworm")
SCRAPE_SECONDS = 5
# the test's own settings, next to the lab's inventory: role variables the tier does not set
TEST_VARS = f"""\
monitoring_snmp_scrape_interval: {SCRAPE_SECONDS}s
monitoring_snmp_alert_for:
  raid_degraded: 0s
  disk_failing: 0s
  system_failed: 0s
  device_unreachable: 0s
  nas_temperature: 0s
  nas_free_space: 0s
  toner_low: 0s
  printer_error: 0s
"""


@pytest.fixture
def devices_lab(cli):
    require_lab()
    name = test_lab_name("devices")
    result = cli("lab", "up", "1", "--devices", "--name", name, "--distro", LAB_DISTRO)
    assert result.exit_code == 0, result.output
    state = LabState.load(name)
    assert state is not None
    started = devices.load(state)
    try:
        extra = cli.project / "inventories" / name / "group_vars" / "all" / "snmp-test.yml"
        # controls the switch simulator can hold (vlans and interfaces, not IOS service lines)
        controls = json.dumps(fakeswitch.CONTROLS)
        extra.write_text(TEST_VARS + f"network_extra_controls: {controls}\n")
        yield name, Lab(state), started
    finally:
        down = cli("lab", "down", "--name", name)
        assert down.exit_code == 0, down.output
        alive = [d.pid for d in started if d.pid and pid_alive(d.pid)]
        assert not alive, f"simulators still running: {alive}"


def _json(result, code, cli=None):
    if result.exit_code != code and cli is not None:  # say which task failed
        run_id = json.loads(result.stdout or "{}").get("run_id", "")
        shown = cli("runs", "show", run_id) if run_id else None
        assert result.exit_code == code, shown.output if shown else result.output
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def _alerts(monitor_ip: str) -> dict[tuple[str, str], str]:
    url = f"http://{monitor_ip}:9090/api/v1/alerts"
    with urllib.request.urlopen(url, timeout=10) as response:  # the lab's Prometheus
        data = json.load(response)
    return {
        (a["labels"]["alertname"], a["labels"].get("instance", "")): a["state"]
        for a in data["data"]["alerts"]
    }


def test_platinum_with_simulated_switch_nas_and_printer(cli, devices_lab):
    name, lab, started = devices_lab
    by_kind = {d.kind: d for d in started}
    assert set(by_kind) == {"switch", "nas", "printer"}
    hosts_yml = (cli.project / "inventories" / name / "hosts.yml").read_text()
    for device in started:
        assert device.name in hosts_yml

    applied = _json(cli("apply", name, "--tier", "platinum", "--force-window", "--json"), 0, cli)
    assert {"monitoring", "network"} <= set(applied["policies"])
    again = _json(cli("apply", name, "--tier", "platinum", "--json"), 0, cli)
    assert again["changed"] == 0, again

    clean = _json(cli("drift", name, "--tier", "platinum", "--json"), 0)
    assert clean["failing_controls"] == [], clean["failing_controls"]

    # the report of that run has the devices' findings, all passing
    report = json.loads(cli("report", name, "--format", "json").stdout)
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    text = json.dumps(report)
    for control in ("snmp.nas.raid", "snmp.nas.disks", "snmp.printer.supplies"):
        assert control in text, control
    assert by_kind["nas"].name in text and by_kind["printer"].name in text

    monitor = min(lab.hosts, key=lambda h: h.index)
    nas, printer = by_kind["nas"], by_kind["printer"]
    alerts = _alerts(monitor.ip)
    assert ("MspctlNasRaidDegraded", nas.name) not in alerts, alerts

    degraded = devices.NasState(raids={"Volume 1": devices.RAID_DEGRADED})
    devices.write_recording(Path(nas.data_dir or ""), devices.nas_recording(degraded, nas.name))
    empty = devices.PrinterState(
        supplies={"Black Toner Cartridge": (0, 10000), "Imaging Drum": (80, 100)}
    )
    devices.write_recording(
        Path(printer.data_dir or ""), devices.printer_recording(empty, printer.name)
    )
    changed_at = time.monotonic()
    wanted = {("MspctlNasRaidDegraded", nas.name), ("MspctlPrinterSupplyLow", printer.name)}
    while True:
        alerts = _alerts(monitor.ip)
        if all(alerts.get(key) == "firing" for key in wanted):
            break
        # two scrapes, plus a rule evaluation at the same interval, plus the API's own delay
        assert time.monotonic() - changed_at < 4 * SCRAPE_SECONDS + 10, alerts
        time.sleep(0.5)
    fired_after = time.monotonic() - changed_at
    print(f"alerts firing {fired_after:.1f} s after the recordings changed")

    found = _json(cli("drift", name, "--tier", "platinum", "--json"), 2)
    failing = {(f["host"], f["control_id"]) for f in found["failing_controls"]}
    assert failing == {(nas.name, "snmp.nas.raid"), (printer.name, "snmp.printer.supplies")}, found[
        "failing_controls"
    ]
    report = json.loads(cli("report", name, "--format", "json").stdout)
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    assert report["summary"]["fail"] == 2, report["failing"]

    # a technician shuts a switch port by hand: drift names the switch and the line, and
    # `diff` shows the configuration change since the converged run
    switch = by_kind["switch"]
    by_hand(switch, ["interface FastEthernet0/2", "shutdown", "exit"])
    found = _json(cli("drift", name, "--tier", "platinum", "--json"), 2)
    drifted = [c for c in found["drift"] if c["host"] == switch.name]
    assert drifted and "- shutdown" in drifted[0]["diff"], found["drift"]
    failing = {(f["host"], f["control_id"]) for f in found["failing_controls"]}
    assert (switch.name, "sw.no_shutdown_fa2") in failing, failing
    compliance = cli.json("diff", name, "--from", again["run_id"])
    assert [c["host"] for c in compliance["config_changes"]] == [switch.name], compliance


def by_hand(switch: devices.Device, commands: list[str]) -> None:
    """A change on the simulated switch in configuration mode, over its lab address."""
    from netmiko import ConnectHandler

    conn = ConnectHandler(
        device_type="cisco_ios",
        host=switch.ip,
        port=switch.port,
        username=devices.SWITCH_USERNAME,
        password=devices.SWITCH_PASSWORD,
        secret="",
    )
    conn.enable()
    conn.send_config_set(commands, exit_config_mode=False)
    conn.exit_config_mode(exit_config="exit")
    conn.disconnect()
