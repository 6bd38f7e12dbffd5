# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The assets policy on a Windows host, judged on the controller.

``PROBE`` (run by the ``mspctl.policy.win_asset_facts`` action plugin through
``ansible.windows.win_powershell``) reads CIM classes, the registry, ``Get-Disk``,
``Get-BitLockerVolume`` and ``Get-MpComputerStatus`` and prints one JSON document, documented
field by field in ``tests/unit/plugins/module_utils/probes/README.md``. ``asset_record`` turns it
into the asset record of the Linux module (same keys: vendor, model, serial, cpu, memory_mb,
disks, os, kernel, warranty; plus ``bitlocker`` and ``defender``), and ``evaluate`` adds to the
shared controls (``mspctl_assets.evaluate``):

``assets.antivirus``  Microsoft Defender protects in real time with signatures at most
                      ``SIGNATURE_MAX_DAYS`` old; Defender in passive mode (another antivirus is
                      primary) passes with that said; no Defender status at all is an error
                      (mspctl cannot tell).
``assets.disk_encryption``  only with ``bitlocker_required``: every operating-system and fixed
                      data volume has BitLocker protection ``On``.

Installed programs (``programs``, read only when the task asks for them) come from the uninstall
registry keys of both registry views (64-bit and 32-bit, ``WOW6432Node``) and are normalised by
``installed_programs``: the entries Apps & Features hides (system components, updates of another
entry, hotfixes) are left out, the same program seen in both views is kept once, and the record's
``packages`` is ``{manager, count, digest, programs}`` like the Linux one (dpkg's).
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_assets import (
    evaluate as evaluate_common,
)
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import Findings
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    parse_date,
)

PROBE = r"""
[CmdletBinding(SupportsShouldProcess)]
param ([bool]$Programs = $false)
$ErrorActionPreference = 'Stop'
$Ansible.Changed = $false
function Iso($d) { if ($d -and $d.Year -gt 1601) { $d.ToUniversalTime().ToString('o') } }
function Has($c) { [bool](Get-Command $c -ErrorAction SilentlyContinue) }
function Uninstall {
    foreach ($view in 'Registry64', 'Registry32') {
        $base = [Microsoft.Win32.RegistryKey]::OpenBaseKey('LocalMachine', $view)
        $key = $base.OpenSubKey('SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall')
        if (-not $key) { continue }
        foreach ($name in $key.GetSubKeyNames()) {
            $k = $key.OpenSubKey($name)
            if (-not $k) { continue }
            [ordered]@{ view = $view; key = $name; name = $k.GetValue('DisplayName')
                version = $k.GetValue('DisplayVersion'); publisher = $k.GetValue('Publisher')
                install_date = $k.GetValue('InstallDate')
                system_component = $k.GetValue('SystemComponent')
                parent = $k.GetValue('ParentKeyName'); release_type = $k.GetValue('ReleaseType') }
        }
    }
}
$cs = Get-CimInstance Win32_ComputerSystem
$os = Get-CimInstance Win32_OperatingSystem
$cv = Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
$mp = if (Has Get-MpComputerStatus) { Get-MpComputerStatus -ErrorAction SilentlyContinue }
[ordered]@{
    computer = [ordered]@{ manufacturer = $cs.Manufacturer; model = $cs.Model
        memory_bytes = [int64]$cs.TotalPhysicalMemory }
    bios = [ordered]@{ serial = (Get-CimInstance Win32_BIOS).SerialNumber }
    os = [ordered]@{ caption = $os.Caption; version = $os.Version; build = $os.BuildNumber
        edition = $cv.EditionID; display_version = $cv.DisplayVersion; ubr = $cv.UBR }
    cpu = @(Get-CimInstance Win32_Processor | ForEach-Object { [ordered]@{ name = $_.Name
        cores = $_.NumberOfCores; threads = $_.NumberOfLogicalProcessors } })
    disks = @(Get-Disk | ForEach-Object { [ordered]@{ number = $_.Number; name = $_.FriendlyName
        serial = $_.SerialNumber; size_bytes = [int64]$_.Size; bus = [string]$_.BusType
        health = [string]$_.HealthStatus } })
    volumes = if (Has Get-BitLockerVolume) { @(Get-BitLockerVolume | ForEach-Object {
        [ordered]@{ mount_point = $_.MountPoint; volume_type = [string]$_.VolumeType
        protection = [string]$_.ProtectionStatus; status = [string]$_.VolumeStatus
        percent = $_.EncryptionPercentage; method = [string]$_.EncryptionMethod } }) }
    defender = if ($mp) { [ordered]@{ service = $mp.AMServiceEnabled
        antivirus = $mp.AntivirusEnabled; realtime = $mp.RealTimeProtectionEnabled
        signatures_updated = Iso $mp.AntivirusSignatureLastUpdated
        mode = [string]$mp.AMRunningMode } }
    programs = if ($Programs) { @(Uninstall) }
} | ConvertTo-Json -Depth 5 -Compress
"""

SIGNATURE_MAX_DAYS = 7
# serial numbers firmware writes when the vendor left it empty
PLACEHOLDER_SERIALS = frozenset(
    {"", "0", "none", "default string", "to be filled by o.e.m.", "system serial number"}
)


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ProbeError(f"{key}: not an object: {value!r}")
    return value


def _objects(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]] | None:
    """A list of objects (a single one unwrapped by ConvertTo-Json is made a list again);
    None when the probe wrote null (the cmdlet is absent)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ProbeError(f"{key}: not a list of objects: {value!r}")
    return value


def _int(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProbeError(f"{field}: not an integer: {value!r}")
    return value


# Apps & Features leaves these release types out: they are updates of a listed program
UPDATE_RELEASE_TYPES = frozenset({"update", "hotfix", "security update", "update rollup"})
# the uninstall key's own name is the MSI product code for Windows Installer packages
PRODUCT_CODE = re.compile(r"^\{[0-9A-Fa-f-]{36}\}$")


def _text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ProbeError(f"{field}: not text: {value!r}")
    return str(value).strip() or None


def _install_date(value: str | None) -> str | None:
    """``InstallDate`` (REG_SZ ``yyyyMMdd``, as Windows Installer writes it) as ISO; anything
    else an installer wrote there (a locale's date, nothing) is None, not an error."""
    if value is None or not re.fullmatch(r"\d{8}", value):
        return None
    try:
        return datetime.date(int(value[:4]), int(value[4:6]), int(value[6:])).isoformat()
    except ValueError:
        return None


def installed_programs(data: Any) -> dict[str, Any] | None:
    """The ``packages`` record from the probe's ``programs`` (None when not collected): what
    Apps & Features lists, once each, sorted by name; ProbeError naming a malformed entry."""
    entries = _objects({"programs": data}, "programs")
    if entries is None:
        return None
    seen: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        field = f"programs[{i}]"
        name = _text(entry.get("name"), f"{field}.name")
        release = (_text(entry.get("release_type"), f"{field}.release_type") or "").lower()
        system = entry.get("system_component")
        if system is not None and (isinstance(system, bool) or not isinstance(system, int)):
            raise ProbeError(f"{field}.system_component: not a DWORD: {system!r}")
        if (
            name is None
            or system == 1
            or _text(entry.get("parent"), f"{field}.parent")
            or release in UPDATE_RELEASE_TYPES
        ):
            continue
        version = _text(entry.get("version"), f"{field}.version")
        publisher = _text(entry.get("publisher"), f"{field}.publisher")
        view = entry.get("view")
        if view not in ("Registry64", "Registry32"):
            raise ProbeError(f"{field}.view: not Registry64 or Registry32: {view!r}")
        key = _text(entry.get("key"), f"{field}.key") or ""
        program = {
            "name": name,
            "version": version,
            "publisher": publisher,
            "installed": _install_date(_text(entry.get("install_date"), f"{field}.install_date")),
            "architecture": "x64" if view == "Registry64" else "x86",
            "msi_product_code": key.upper() if PRODUCT_CODE.match(key) else None,
        }
        # a 32-bit OS, or a 32-bit PowerShell, shows the same key in both views: keep one
        seen.setdefault((name.casefold(), version, publisher), program)
    programs = sorted(seen.values(), key=lambda p: (p["name"].casefold(), p["version"] or ""))
    lines = "\n".join(f"{p['name']}={p['version'] or ''}" for p in programs)
    return {
        "manager": "windows-uninstall",
        "count": len(programs),
        "digest": "sha256:" + hashlib.sha256(lines.encode("utf-8")).hexdigest(),
        "programs": programs,
    }


def asset_record(data: Any, warranty: dict[str, Any]) -> dict[str, Any]:
    """The asset record from the probe's JSON; ProbeError naming a field that is wrong."""
    if not isinstance(data, Mapping):
        raise ProbeError("the probe did not return a JSON object")
    computer = _mapping(data, "computer")
    system = _mapping(data, "os")
    serial = str(_mapping(data, "bios").get("serial") or "").strip()
    memory = _int(computer.get("memory_bytes"), "computer.memory_bytes")
    cpus = _objects(data, "cpu") or []
    disks = _objects(data, "disks") or []
    volumes = _objects(data, "volumes")
    defender = data.get("defender")
    if defender is not None and not isinstance(defender, Mapping):
        raise ProbeError(f"defender: not an object: {defender!r}")
    build = str(system.get("build") or "")
    ubr = _int(system.get("ubr"), "os.ubr")
    return {
        "vendor": computer.get("manufacturer"),
        "model": computer.get("model"),
        "serial": None if serial.lower() in PLACEHOLDER_SERIALS else serial,
        "cpu": {
            "model": cpus[0].get("name") if cpus else None,
            "cores": sum(_int(c.get("cores"), "cpu[].cores") or 0 for c in cpus),
            "threads": sum(_int(c.get("threads"), "cpu[].threads") or 0 for c in cpus),
        },
        "memory_mb": memory // (1024 * 1024) if memory is not None else None,
        "disks": [
            {
                "name": d.get("name"),
                "serial": (str(d.get("serial") or "").strip() or None),
                "size_bytes": _int(d.get("size_bytes"), f"disks[{i}].size_bytes"),
                "bus": d.get("bus"),
                "health": d.get("health"),
            }
            for i, d in enumerate(disks)
        ],
        "os": {
            "name": system.get("caption"),
            "version": system.get("display_version") or system.get("version"),
            "edition": system.get("edition"),
            "build": f"{build}.{ubr}" if build and ubr is not None else build or None,
        },
        "kernel": system.get("version"),
        "interfaces": [],
        "packages": installed_programs(data.get("programs")),
        "bitlocker": None
        if volumes is None
        else [
            {
                "mount_point": v.get("mount_point"),
                "volume_type": v.get("volume_type"),
                "protection": v.get("protection"),
                "status": v.get("status"),
                "percent": v.get("percent"),
                "method": v.get("method"),
            }
            for v in volumes
        ],
        "defender": None
        if defender is None
        else {
            "realtime": defender.get("realtime") is True,
            "antivirus": defender.get("antivirus") is True,
            "service": defender.get("service") is True,
            "mode": str(defender.get("mode") or ""),
            "signatures_updated": defender.get("signatures_updated"),
        },
        "warranty": warranty,
    }


def evaluate(
    asset: dict[str, Any],
    warranty_tracking: bool,
    bitlocker_required: bool,
    now: datetime.datetime,
) -> list[dict[str, Any]]:
    """The shared assets controls, then the Windows ones."""
    items = evaluate_common(asset, warranty_tracking)
    findings = Findings("assets")
    defender = asset.get("defender")
    title = "Antivirus protects the host in real time"
    expected = f"Defender real-time protection on, signatures at most {SIGNATURE_MAX_DAYS} days old"
    if defender is None:
        findings.error(
            "assets.antivirus", title, "no Microsoft Defender status (Get-MpComputerStatus)"
        )
    elif "passive" in defender["mode"].lower():
        findings.check(
            "assets.antivirus",
            title,
            True,
            expected,
            f"Defender in {defender['mode']}: another antivirus is primary",
            evidence=defender,
        )
    else:
        updated = parse_date(defender["signatures_updated"], "defender.signatures_updated")
        age = (now - updated).total_seconds() / 86400 if updated else None
        ok = defender["realtime"] and age is not None and age <= SIGNATURE_MAX_DAYS
        findings.check(
            "assets.antivirus",
            title,
            bool(ok),
            expected,
            "real-time protection {}, signatures {}".format(
                "on" if defender["realtime"] else "off",
                "never updated" if age is None else f"{age:.1f} days old",
            ),
            evidence=defender,
        )
    if bitlocker_required:
        title = "Operating-system and fixed data volumes are encrypted (BitLocker)"
        volumes = asset.get("bitlocker")
        if volumes is None:
            findings.check(
                "assets.disk_encryption",
                title,
                False,
                "BitLocker protection On",
                "BitLocker is not installed",
            )
        else:
            local = [v for v in volumes if v["volume_type"] in ("OperatingSystem", "FixedData")]
            off = [str(v["mount_point"]) for v in local if v["protection"] != "On"]
            findings.check(
                "assets.disk_encryption",
                title,
                bool(local) and not off,
                "BitLocker protection On",
                f"unprotected: {', '.join(off)}" if off else f"{len(local)} volume(s) protected",
                evidence={"volumes": local},
            )
    return items + findings.as_list()
