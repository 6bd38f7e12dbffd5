"""Devices without an agent beside the lab hosts: a Cisco switch, a NAS and a printer.

``mspctl lab up --devices`` starts, each in its own network namespace on the lab's bridge:

=========  ==========  =====================================================================
device     address     simulator
=========  ==========  =====================================================================
switch     host 91     ``fake-switches`` (cisco_generic) on SSH port 22: class ``network``
nas        host 92     ``snmpsim`` serving :func:`nas_recording` (SNMP v2c, UDP 161): ``nas``
printer    host 93     ``snmpsim`` serving :func:`printer_recording`: class ``printers``
=========  ==========  =====================================================================

The recordings are ``.snmprec`` files (``OID|tag|value``) written here from the MIBs' documented
OIDs; snmpsim re-reads a recording whose modification time changed, so a test degrades the RAID
or empties a toner by rewriting the file (:func:`write_recording`). The processes are recorded
by PID in ``<run dir>/devices.json`` and ended by ``mspctl lab down`` (by PID, then any process
left in a device's namespace); their namespaces are named like the hosts', so the lab's network
teardown removes them.

The devices join the lab client's inventory in group ``snmp`` (polled over SNMP by the MSP
monitoring host, Ansible logs into nothing: ``ansible_connection: local``) or ``network``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mspctl.lab._system import LabError, pid_alive, run
from mspctl.lab.state import LabHost, LabState, host_ip, netns_name, veth_name

Progress = Callable[[str], None]

COMMUNITY = "mspctl-lab"  # the SNMP v2c community: snmpsim serves <community>.snmprec
SWITCH_USERNAME = "admin"
SWITCH_PASSWORD = "lab-switch-pw"  # noqa: S105 - a simulator's login in a throwaway lab
# device -> (host index: address .10+index and namespace suffix, host class)
DEVICES: dict[str, tuple[int, str]] = {
    "switch": (91, "network"),
    "nas": (92, "nas"),
    "printer": (93, "printers"),
}

# -- the recordings ---------------------------------------------------------------------------
# snmprec tags (snmpsim's numbering of the ASN.1 types)
INTEGER, OCTET_STRING, OBJECT_ID, COUNTER32, GAUGE32, TIMETICKS, COUNTER64 = (
    2,
    4,
    6,
    65,
    66,
    67,
    70,
)

# SNMPv2-MIB (RFC 3418): the system group every agent answers
SYS_DESCR = "1.3.6.1.2.1.1.1.0"  # sysDescr
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"  # sysObjectID
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"  # sysUpTime
SYS_NAME = "1.3.6.1.2.1.1.5.0"  # sysName
# SYNOLOGY-SYSTEM-MIB (Synology DiskStation MIB guide): enterprise 6574
SYNO_SYSTEM_STATUS = "1.3.6.1.4.1.6574.1.1.0"  # systemStatus: 1 Normal, 2 Failed
SYNO_TEMPERATURE = "1.3.6.1.4.1.6574.1.2.0"  # temperature: degrees Celsius
SYNO_MODEL = "1.3.6.1.4.1.6574.1.5.1.0"  # modelName
SYNO_SERIAL = "1.3.6.1.4.1.6574.1.5.2.0"  # serialNumber
# SYNOLOGY-DISK-MIB diskTable, indexed by diskIndex
SYNO_DISK_ID = "1.3.6.1.4.1.6574.2.1.1.2"  # diskID ("Disk 1")
SYNO_DISK_MODEL = "1.3.6.1.4.1.6574.2.1.1.3"  # diskModel
SYNO_DISK_STATUS = "1.3.6.1.4.1.6574.2.1.1.5"  # diskStatus: 1 Normal .. 5 Crashed
SYNO_DISK_TEMPERATURE = "1.3.6.1.4.1.6574.2.1.1.6"  # diskTemperature: degrees Celsius
# SYNOLOGY-RAID-MIB raidTable, indexed by raidIndex
SYNO_RAID_NAME = "1.3.6.1.4.1.6574.3.1.1.2"  # raidName ("Volume 1")
SYNO_RAID_STATUS = "1.3.6.1.4.1.6574.3.1.1.3"  # raidStatus: 1 Normal, 11 Degrade, 12 Crashed
# HOST-RESOURCES-MIB (RFC 2790) hrStorageTable, indexed by hrStorageIndex
HR_STORAGE_DESCR = "1.3.6.1.2.1.25.2.3.1.3"  # hrStorageDescr (the mount point)
HR_STORAGE_UNITS = "1.3.6.1.2.1.25.2.3.1.4"  # hrStorageAllocationUnits: bytes per unit
HR_STORAGE_SIZE = "1.3.6.1.2.1.25.2.3.1.5"  # hrStorageSize: units
HR_STORAGE_USED = "1.3.6.1.2.1.25.2.3.1.6"  # hrStorageUsed: units
# HOST-RESOURCES-MIB hrDeviceTable / hrPrinterTable, indexed by hrDeviceIndex
HR_DEVICE_DESCR = "1.3.6.1.2.1.25.3.2.1.3"  # hrDeviceDescr
HR_DEVICE_STATUS = "1.3.6.1.2.1.25.3.2.1.5"  # hrDeviceStatus: 2 running, 3 warning, 5 down
HR_PRINTER_STATUS = "1.3.6.1.2.1.25.3.5.1.1"  # hrPrinterStatus: 3 idle, 4 printing, 5 warmup
# Printer-MIB (RFC 3805), indexed by hrDeviceIndex and the marker / supply index
PRT_MARKER_LIFE_COUNT = "1.3.6.1.2.1.43.10.2.1.4"  # prtMarkerLifeCount: pages (impressions)
PRT_SUPPLIES_DESCRIPTION = "1.3.6.1.2.1.43.11.1.1.6"  # prtMarkerSuppliesDescription
PRT_SUPPLIES_MAX_CAPACITY = "1.3.6.1.2.1.43.11.1.1.8"  # prtMarkerSuppliesMaxCapacity
PRT_SUPPLIES_LEVEL = "1.3.6.1.2.1.43.11.1.1.9"  # prtMarkerSuppliesLevel (-3: some remains)

RAID_NORMAL, RAID_DEGRADED = 1, 11
DEVICE_RUNNING, DEVICE_DOWN = 2, 5


@dataclass
class NasState:
    """What the simulated NAS reports; change a field and rewrite the recording."""

    system_status: int = 1
    temperature: int = 41
    raids: dict[str, int] = field(default_factory=lambda: {"Volume 1": RAID_NORMAL})
    disks: dict[str, int] = field(default_factory=lambda: {"Disk 1": 1, "Disk 2": 1})
    disk_temperature: int = 36
    volume_size_gb: int = 3800
    volume_used_gb: int = 1200


@dataclass
class PrinterState:
    """What the simulated printer reports: supplies as description -> (level, max capacity)."""

    device_status: int = DEVICE_RUNNING
    printer_status: int = 3
    supplies: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {"Black Toner Cartridge": (6500, 10000), "Imaging Drum": (80, 100)}
    )
    pages: int = 48213


def _line(oid: str, tag: int, value: object) -> str:
    return f"{oid}|{tag}|{value}"


def _sorted(lines: Iterable[str]) -> str:
    """snmpsim walks a recording in file order: sort by OID, numerically."""

    def key(line: str) -> tuple[int, ...]:
        return tuple(int(part) for part in line.split("|", 1)[0].split("."))

    return "\n".join(sorted(lines, key=key)) + "\n"


def nas_recording(nas: NasState, name: str = "nas") -> str:
    lines = [
        _line(SYS_DESCR, OCTET_STRING, "Linux DiskStation 4.4.302+ x86_64 (simulated)"),
        _line(SYS_OBJECT_ID, OBJECT_ID, "1.3.6.1.4.1.8072.3.2.10"),
        _line(SYS_UPTIME, TIMETICKS, 123456),
        _line(SYS_NAME, OCTET_STRING, name),
        _line(SYNO_SYSTEM_STATUS, INTEGER, nas.system_status),
        _line(SYNO_TEMPERATURE, INTEGER, nas.temperature),
        _line(SYNO_MODEL, OCTET_STRING, "DS920+"),
        _line(SYNO_SERIAL, OCTET_STRING, "2150PDN123456"),
    ]
    for index, (disk, status) in enumerate(nas.disks.items()):
        lines += [
            _line(f"{SYNO_DISK_ID}.{index}", OCTET_STRING, disk),
            _line(f"{SYNO_DISK_MODEL}.{index}", OCTET_STRING, "WD40EFRX"),
            _line(f"{SYNO_DISK_STATUS}.{index}", INTEGER, status),
            _line(f"{SYNO_DISK_TEMPERATURE}.{index}", INTEGER, nas.disk_temperature),
        ]
    for index, (raid, status) in enumerate(nas.raids.items()):
        lines += [
            _line(f"{SYNO_RAID_NAME}.{index}", OCTET_STRING, raid),
            _line(f"{SYNO_RAID_STATUS}.{index}", INTEGER, status),
        ]
    unit = 4096
    volumes = {31: ("/volume1", nas.volume_size_gb, nas.volume_used_gb)}
    for index, (mount, size_gb, used_gb) in volumes.items():
        lines += [
            _line(f"{HR_STORAGE_DESCR}.{index}", OCTET_STRING, mount),
            _line(f"{HR_STORAGE_UNITS}.{index}", INTEGER, unit),
            _line(f"{HR_STORAGE_SIZE}.{index}", INTEGER, size_gb * 10**9 // unit),
            _line(f"{HR_STORAGE_USED}.{index}", INTEGER, used_gb * 10**9 // unit),
        ]
    return _sorted(lines)


def printer_recording(printer: PrinterState, name: str = "printer") -> str:
    device = 1  # hrDeviceIndex of the printer
    lines = [
        _line(SYS_DESCR, OCTET_STRING, "HP LaserJet Pro M404dn (simulated)"),
        _line(SYS_OBJECT_ID, OBJECT_ID, "1.3.6.1.4.1.11.2.3.9.1"),
        _line(SYS_UPTIME, TIMETICKS, 654321),
        _line(SYS_NAME, OCTET_STRING, name),
        _line(f"{HR_DEVICE_DESCR}.{device}", OCTET_STRING, "HP LaserJet Pro M404dn"),
        _line(f"{HR_DEVICE_STATUS}.{device}", INTEGER, printer.device_status),
        _line(f"{HR_PRINTER_STATUS}.{device}", INTEGER, printer.printer_status),
        _line(f"{PRT_MARKER_LIFE_COUNT}.{device}.1", COUNTER32, printer.pages),
    ]
    for index, (supply, (level, capacity)) in enumerate(printer.supplies.items(), start=1):
        lines += [
            _line(f"{PRT_SUPPLIES_DESCRIPTION}.{device}.{index}", OCTET_STRING, supply),
            _line(f"{PRT_SUPPLIES_MAX_CAPACITY}.{device}.{index}", INTEGER, capacity),
            _line(f"{PRT_SUPPLIES_LEVEL}.{device}.{index}", INTEGER, level),
        ]
    return _sorted(lines)


def write_recording(data_dir: Path, text: str, community: str = COMMUNITY) -> Path:
    """Replace the recording atomically (snmpsim re-reads it on its next request)."""
    path = data_dir / f"{community}.snmprec"
    tmp = data_dir / f".{community}.tmp"
    tmp.write_text(text)
    tmp.chmod(0o644)
    tmp.replace(path)
    # snmpsim compares whole-second modification times: make each rewrite a new second
    stamp = time.time()
    os.utime(path, (stamp, max(stamp, _last_mtime.get(str(path), 0) + 1)))
    _last_mtime[str(path)] = path.stat().st_mtime
    return path


_last_mtime: dict[str, float] = {}


# -- processes --------------------------------------------------------------------------------
@dataclass
class Device:
    name: str  # the inventory name
    kind: str  # switch, nas, printer
    host_class: str
    ip: str
    netns: str
    veth: str
    port: int
    data_dir: str | None = None
    pid: int | None = None


def devices_file(state: LabState) -> Path:
    return state.run_dir / "devices.json"


def load(state: LabState) -> list[Device]:
    try:
        rows = json.loads(devices_file(state).read_text())
    except (OSError, ValueError):
        return []
    return [Device(**row) for row in rows if isinstance(row, dict)]


def _save(state: LabState, devices: list[Device]) -> None:
    path = devices_file(state)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(d) for d in devices], indent=2) + "\n")
    tmp.replace(path)


def plan(state: LabState) -> list[Device]:
    found = []
    for kind, (index, host_class) in DEVICES.items():
        found.append(
            Device(
                name=f"{state.name}-{kind}",
                kind=kind,
                host_class=host_class,
                ip=host_ip(state.slot, index),
                netns=netns_name(state.name, index),
                veth=veth_name(state.slot, index),
                port=22 if kind == "switch" else 161,
                data_dir=str(state.run_dir / "devices" / kind) if kind != "switch" else None,
            )
        )
    return found


# snmpsim refuses to run as root and drops to nobody before it (re)indexes a recording; the
# interpreter may live where nobody cannot read (/root/.pyenv): load what it needs first
_SNMPSIM = (
    "import sys, dbm, dbm.dumb, encodings.latin_1, encodings.utf_8, encodings.ascii\n"
    "from snmpsim.commands.responder import main\n"
    "sys.argv[0] = 'snmpsim-command-responder'\n"
    "sys.exit(main())\n"
)


def _command(device: Device) -> list[str]:
    if device.kind == "switch":
        program = shutil.which("fake-switches") or str(
            Path(sys.executable).parent / "fake-switches"
        )
        if not Path(program).exists():
            raise LabError("--devices needs fake-switches (./dev setup installs it)")
        return [
            program,
            "--model",
            "cisco_generic",
            "--hostname",
            device.name,
            "--username",
            SWITCH_USERNAME,
            "--password",
            SWITCH_PASSWORD,
            "--listen-host",
            device.ip,
            "--listen-port",
            str(device.port),
        ]
    data = Path(device.data_dir or "")
    return [
        sys.executable,
        "-c",
        _SNMPSIM,
        f"--data-dir={data}",
        f"--cache-dir={data.parent / f'{device.kind}.cache'}",
        f"--agent-udpv4-endpoint={device.ip}:{device.port}",
        "--process-user=nobody",
        "--process-group=nogroup",
    ]


def _prepare_data(state: LabState, device: Device) -> None:
    data = Path(device.data_dir or "")
    cache = data.parent / f"{device.kind}.cache"
    for folder in (data, cache):
        folder.mkdir(parents=True, exist_ok=True)
    for folder in (state.run_dir, data.parent, data):
        folder.chmod(0o755)  # snmpsim reads as nobody
    shutil.chown(cache, "nobody", "nogroup")
    text = nas_recording(NasState(), device.name) if device.kind == "nas" else None
    if device.kind == "printer":
        text = printer_recording(PrinterState(), device.name)
    write_recording(data, text or "")


def start(state: LabState, progress: Progress) -> list[Device]:
    """Start the switch, NAS and printer simulators; returns when each answers."""
    import importlib.util

    from mspctl.lab import network

    if importlib.util.find_spec("snmpsim") is None:
        raise LabError("--devices needs snmpsim and pysmi (pip install -e '.[test]')")
    devices = plan(state)
    _save(state, devices)  # recorded first: `down` removes even a half-started set
    logs = state.run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for device in devices:
        network.create_host_network(
            state,
            LabHost(
                name=device.name,
                index=0,
                ip=device.ip,
                netns=device.netns,
                veth=device.veth,
                groups=[],
            ),
        )
        if device.data_dir:
            _prepare_data(state, device)
            # snmpsim binds once it runs as nobody: let the namespace's port 161 be bound so
            run(
                [
                    "ip",
                    "netns",
                    "exec",
                    device.netns,
                    "sysctl",
                    "-qw",
                    "net.ipv4.ip_unprivileged_port_start=0",
                ]
            )
        with open(logs / f"{device.name}.log", "ab") as log:
            process = subprocess.Popen(
                ["ip", "netns", "exec", device.netns, *_command(device)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        device.pid = process.pid
        _save(state, devices)
    progress(f"starting the simulated {', '.join(d.kind for d in devices)}")
    for device in devices:
        _wait(device, logs / f"{device.name}.log")
    return devices


def _wait(device: Device, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(device.pid):
            tail = log.read_text(errors="replace")[-400:] if log.exists() else ""
            raise LabError(f"the simulated {device.kind} exited: {tail.strip()}")
        if device.kind == "switch" and _tcp_open(device.ip, device.port):
            return
        if device.kind != "switch" and snmp_get(device.ip, SYS_DESCR) is not None:
            return
        time.sleep(0.3)
    raise LabError(f"the simulated {device.kind} did not answer within {timeout:.0f} s")


def _tcp_open(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.5):
            return True
    except OSError:
        return False


def snmp_get(ip: str, oid: str, community: str = COMMUNITY, port: int = 161) -> str | None:
    """One SNMP v2c GET with pysnmp (the value as text), None when nothing answers."""
    import asyncio

    from pysnmp.hlapi.v3arch.asyncio import (  # type: ignore[import-untyped]
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        get_cmd,
    )

    async def query() -> str | None:
        engine = SnmpEngine()
        try:
            target = await UdpTransportTarget.create((ip, port), timeout=0.5, retries=0)
            error, status, _, binds = await get_cmd(
                engine,
                CommunityData(community, mpModel=1),  # noqa: S508 - the lab's simulators speak v2c
                target,
                ContextData(),
                ObjectType(ObjectIdentity(oid)),
            )
        finally:
            engine.close_dispatcher()
        if error or status:
            return None
        return str(binds[0][1])

    try:
        return asyncio.run(query())
    except Exception:
        return None


def stop(state: LabState | None, name: str) -> None:
    """End the devices of lab ``name``: the recorded PIDs, then anything left in their
    namespaces (a killed ``up`` that recorded no PID)."""
    devices = load(state) if state else []
    for device in devices:
        if device.pid and pid_alive(device.pid):
            _end(device.pid)
    for kind, (index, _) in DEVICES.items():
        del kind
        netns = netns_name(name, index)
        if not Path(f"/run/netns/{netns}").exists():
            continue
        pids = run(["ip", "netns", "pids", netns], check=False).stdout.split()
        for pid in pids:
            if pid.isdigit():
                _end(int(pid))


def _end(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM) if _leads_group(pid) else os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


# -- the inventory ----------------------------------------------------------------------------
def device_vars(device: Device) -> dict[str, Any]:
    if device.kind == "switch":
        return {
            "ansible_host": device.ip,
            "ansible_port": device.port,
            "network_device_type": "cisco_ios",
            "network_username": SWITCH_USERNAME,
            "network_password": SWITCH_PASSWORD,  # a vault value in real life
            # the simulator knows vlans and interfaces, not IOS global service lines
            "network_controls": [],
        }
    return {
        "ansible_host": device.ip,
        # nothing to log into: the SNMP tasks are delegated to the MSP monitoring host
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
    }


def add_to_inventory(state: LabState, devices: list[Device]) -> None:
    """Add the devices to the lab client's ``hosts.yml`` (written by ``up``, removed by
    ``down``): their host class, and ``snmp`` for the SNMP-polled ones."""
    if state.inventory is None or not state.inventory.is_file():
        return
    text = state.inventory.read_text()
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    import yaml  # here: `mspctl lab --help` loads no YAML library

    document = yaml.safe_load(text)
    root = document["all"]
    # the client's community: the exporter's modules are written once for all its devices
    root.setdefault("vars", {})["monitoring_snmp_community"] = COMMUNITY
    children = root.setdefault("children", {})
    for device in devices:
        root["hosts"][device.name] = device_vars(device)
        groups = [device.host_class] + (["snmp"] if device.kind != "switch" else [])
        for group in groups:
            members = children.setdefault(group, {"hosts": {}})
            if members.get("hosts") is None:
                members["hosts"] = {}
            members["hosts"][device.name] = {}
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1000)
    tmp = state.inventory.with_name(".hosts.yml.tmp")
    tmp.write_text(header + body)
    tmp.replace(state.inventory)
