"""The SNMP device findings from an exporter's answer: data-driven cases of the pure logic (the
real exporter and agents are in tests/network/test_snmp_devices.py)."""

from __future__ import annotations

import pytest
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_snmp import (
    nas_findings,
    parse,
    printer_findings,
)

PARAMS = {
    "toner_min_percent": 10,
    "nas_temperature_max": 60,
    "nas_free_min_percent": 10,
    "nas_volume_prefixes": ["/volume"],
}


def nas(raid: int = 1, disk2: int = 1, temperature: int = 41, used: int = 50) -> str:
    return f"""# HELP synology_system_status x
# TYPE synology_system_status gauge
synology_system_status 1
synology_temperature_celsius {temperature}
synology_disk_status{{disk="Disk 1",diskIndex="0"}} 1
synology_disk_status{{disk="Disk 2",diskIndex="1"}} {disk2}
synology_raid_status{{raid="Volume 1",raidIndex="0"}} {raid}
hr_storage_size{{hrStorageIndex="31",mountpoint="/volume1"}} 100
hr_storage_used{{hrStorageIndex="31",mountpoint="/volume1"}} {used}
hr_storage_size{{hrStorageIndex="1",mountpoint="/"}} 100
hr_storage_used{{hrStorageIndex="1",mountpoint="/"}} 99
"""


def printer(level: int = 6500, status: int = 2) -> str:
    return f"""hr_device_status{{hrDeviceIndex="1"}} {status}
prt_marker_supplies_level{{hrDeviceIndex="1",prtMarkerSuppliesIndex="1",supply="Ink"}} {level}
prt_marker_supplies_max_capacity{{hrDeviceIndex="1",prtMarkerSuppliesIndex="1",supply="Ink"}} 10000
prt_marker_supplies_level{{hrDeviceIndex="1",prtMarkerSuppliesIndex="2",supply="Waste"}} -3
prt_marker_supplies_max_capacity{{hrDeviceIndex="1",prtMarkerSuppliesIndex="2",supply="Waste"}} 100
"""


def statuses(findings) -> dict[str, str]:
    return {f["control_id"]: f["status"] for f in findings.as_list()}


def test_parse_reads_labels_and_skips_comments() -> None:
    samples = parse(nas())
    assert ("synology_system_status", {}, 1.0) in samples
    assert ("synology_raid_status", {"raid": "Volume 1", "raidIndex": "0"}, 1.0) in samples
    assert not any(name.startswith("#") for name, _, _ in samples)


@pytest.mark.parametrize(
    ("text", "failing"),
    [
        (nas(), set()),
        (nas(raid=11), {"snmp.nas.raid"}),  # Degrade
        (nas(raid=12), {"snmp.nas.raid"}),  # Crashed
        (nas(raid=2), set()),  # Repairing: busy, not degraded
        (nas(disk2=5), {"snmp.nas.disks"}),
        (nas(temperature=61), {"snmp.nas.temperature"}),
        (nas(used=95), {"snmp.nas.free_space"}),  # "/" at 99 % is not a data volume
    ],
)
def test_nas_controls(text: str, failing: set[str]) -> None:
    result = statuses(nas_findings(parse(text), PARAMS))
    assert {c for c, s in result.items() if s != "pass"} == failing, result
    assert set(result) == {
        "snmp.nas.system",
        "snmp.nas.raid",
        "snmp.nas.disks",
        "snmp.nas.temperature",
        "snmp.nas.free_space",
    }


@pytest.mark.parametrize(
    ("text", "failing"),
    [
        (printer(), set()),
        (printer(level=999), {"snmp.printer.supplies"}),  # 9.99 %
        (printer(level=1000), set()),  # exactly 10 %
        (printer(status=5), {"snmp.printer.status"}),
    ],
)
def test_printer_controls(text: str, failing: set[str]) -> None:
    result = statuses(printer_findings(parse(text), PARAMS))
    assert {c for c, s in result.items() if s != "pass"} == failing, result


def test_no_answer_is_an_error_not_a_pass() -> None:
    assert statuses(nas_findings([], PARAMS)) == {"snmp.nas.system": "error"}
    assert statuses(printer_findings([], PARAMS)) == {"snmp.printer.status": "error"}
