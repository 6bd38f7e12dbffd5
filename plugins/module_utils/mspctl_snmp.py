# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Findings of SNMP devices (NAS, printers) from what the MSP's snmp_exporter answers.

The metric names are those of the monitoring role's exporter modules
(``roles/monitoring/templates/snmp-modules.yml.j2``): the findings and the alert rules read the
same samples. Pure logic, standard library only: parse the exporter's text exposition, then
evaluate the controls.
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import Findings

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

RAID_BAD = 11  # raidStatus 11 Degrade, 12 Crashed (SYNOLOGY-RAID-MIB)
DISK_BAD = 4  # diskStatus 4 SystemPartitionFailed, 5 Crashed (SYNOLOGY-DISK-MIB)
DEVICE_DOWN = 5  # hrDeviceStatus 5 down (HOST-RESOURCES-MIB)


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples of a Prometheus text exposition: (name, labels, value); comments skipped."""
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or line.startswith("#"):
            continue
        labels = {k: v.replace('\\"', '"') for k, v in _LABEL.findall(match.group(3) or "")}
        try:
            samples.append((match.group(1), labels, float(match.group(4))))
        except ValueError:
            continue
    return samples


def _by(samples: list[tuple[str, dict[str, str], float]], name: str) -> list[Any]:
    return [(labels, value) for n, labels, value in samples if n == name]


def nas_findings(
    samples: list[tuple[str, dict[str, str], float]], params: dict[str, Any]
) -> Findings:
    findings = Findings("monitoring")
    system = _by(samples, "synology_system_status")
    if not system:
        findings.error("snmp.nas.system", "The NAS answers SNMP", "no synology_system_status")
        return findings
    findings.check(
        "snmp.nas.system",
        "The NAS reports its system as normal",
        system[0][1] == 1,
        expected="1 (Normal)",
        actual=f"{system[0][1]:g}",
    )
    raids = {
        labels.get("raid", labels.get("raidIndex", "?")): v
        for labels, v in _by(samples, "synology_raid_status")
    }
    bad = sorted(name for name, value in raids.items() if value >= RAID_BAD)
    findings.check(
        "snmp.nas.raid",
        "Every RAID volume of the NAS is healthy (not degraded nor crashed)",
        bool(raids) and not bad,
        expected=f"raidStatus < 11 for {len(raids)} volume(s)",
        actual=("degraded or crashed: " + ", ".join(bad)) if bad else f"{len(raids)} healthy",
        evidence={"raids": {k: int(v) for k, v in raids.items()}},
    )
    disks = {
        labels.get("disk", labels.get("diskIndex", "?")): v
        for labels, v in _by(samples, "synology_disk_status")
    }
    failing = sorted(name for name, value in disks.items() if value >= DISK_BAD)
    findings.check(
        "snmp.nas.disks",
        "No disk of the NAS is failing",
        bool(disks) and not failing,
        expected=f"diskStatus < 4 for {len(disks)} disk(s)",
        actual=("failing: " + ", ".join(failing)) if failing else f"{len(disks)} healthy",
        evidence={"disks": {k: int(v) for k, v in disks.items()}},
    )
    temperature = _by(samples, "synology_temperature_celsius")
    if temperature:
        findings.check(
            "snmp.nas.temperature",
            "The NAS runs below its temperature limit",
            temperature[0][1] <= params["nas_temperature_max"],
            expected="<= {} C".format(params["nas_temperature_max"]),
            actual=f"{temperature[0][1]:g} C",
        )
    sizes = {labels.get("mountpoint"): v for labels, v in _by(samples, "hr_storage_size")}
    used = {labels.get("mountpoint"): v for labels, v in _by(samples, "hr_storage_used")}
    low = []
    free_percent = {}
    for mount, size in sizes.items():
        if mount and size > 0 and mount.startswith(tuple(params["nas_volume_prefixes"])):
            free = 100.0 * (size - used.get(mount, 0.0)) / size
            if free < params["nas_free_min_percent"]:
                low.append(mount)
            free_percent[mount] = round(free, 1)  # compared unrounded, shown rounded
    findings.check(
        "snmp.nas.free_space",
        "Every NAS volume keeps enough free space",
        not low,
        expected=">= {} % free".format(params["nas_free_min_percent"]),
        actual=", ".join(f"{m} {free_percent[m]} % free" for m in sorted(free_percent))
        or "no volume",
        evidence={"free_percent": free_percent},
    )
    return findings


def printer_findings(
    samples: list[tuple[str, dict[str, str], float]], params: dict[str, Any]
) -> Findings:
    findings = Findings("monitoring")
    status = _by(samples, "hr_device_status")
    if not status:
        findings.error("snmp.printer.status", "The printer answers SNMP", "no hr_device_status")
        return findings
    down = [labels.get("hrDeviceIndex", "?") for labels, v in status if v == DEVICE_DOWN]
    findings.check(
        "snmp.printer.status",
        "The printer is not in error",
        not down,
        expected="hrDeviceStatus != 5 (down)",
        actual="down" if down else "running",
        evidence={"hrDeviceStatus": [int(value) for unused, value in status]},
    )
    capacity = {
        labels.get("supply"): v for labels, v in _by(samples, "prt_marker_supplies_max_capacity")
    }
    percent = {}
    for labels, level in _by(samples, "prt_marker_supplies_level"):
        supply = labels.get("supply")
        maximum = capacity.get(supply, 0.0)
        if supply and maximum > 0 and level >= 0:  # -2 unknown, -3 "some remains"
            percent[supply] = 100.0 * level / maximum
    low = sorted(s for s, p in percent.items() if p < params["toner_min_percent"])
    percent = {s: round(p, 1) for s, p in percent.items()}  # compared unrounded, shown rounded
    findings.check(
        "snmp.printer.supplies",
        "Every printer supply is above its threshold",
        not low,
        expected=">= {} %".format(params["toner_min_percent"]),
        actual=("low: " + ", ".join(f"{s} {percent[s]} %" for s in low))
        if low
        else f"{len(percent)} supplies ok",
        evidence={"percent": percent},
    )
    return findings
