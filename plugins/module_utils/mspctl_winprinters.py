# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The printers policy on a Windows host: drivers, TCP/IP ports and queues, decided on the
controller.

``PROBE`` reads the host's print state with the PrintManagement cmdlets; ``plan`` compares it
with the inventory's queues and returns the actions and the before/after pair (so ``changed``
and the diff come from one comparison); ``APPLY`` (run only outside check mode) performs the
actions; ``evaluate`` gives the findings of the state read afterwards.

Probe fields (documented in ``tests/unit/plugins/module_utils/probes/README.md``):
``drivers`` names of ``Get-PrinterDriver``; ``ports`` ``Get-PrinterPort`` (``name``,
``host`` = ``PrinterHostAddress``, ``port`` = ``PortNumber``, ``lpr_queue`` = ``LprQueueName``,
null for non-TCP/IP ports such as ``LPT1:`` or ``PORTPROMPT:``); ``printers`` ``Get-Printer``
(``name``, ``driver`` = ``DriverName``, ``port`` = ``PortName``, ``shared``, ``location``,
``comment``).

The inventory's ``uri`` maps to a Standard TCP/IP port named ``mspctl_<host>_<port>``:
``socket://HOST[:PORT]`` (RAW, 9100 by default) or ``lpd://HOST/QUEUE`` (LPR); other schemes are
not supported on Windows yet. ``driver`` is the name of a driver in the Windows driver store
(``Microsoft IPP Class Driver``, ``Microsoft PCL6 Class Driver``, or a vendor driver staged
with ``pnputil``). Only queues on TCP/IP ports count as unlisted: the virtual printers
(Microsoft Print to PDF, XPS, Fax) are never touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import Findings
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    strings,
)

PROBE = r"""
[CmdletBinding(SupportsShouldProcess)]
param ()
$ErrorActionPreference = 'Stop'
$Ansible.Changed = $false
[ordered]@{
    drivers = @(Get-PrinterDriver | ForEach-Object { $_.Name })
    ports = @(Get-PrinterPort | ForEach-Object { [ordered]@{ name = $_.Name
        host = $_.PrinterHostAddress; port = $_.PortNumber; lpr_queue = $_.LprQueueName } })
    printers = @(Get-Printer | ForEach-Object { [ordered]@{ name = $_.Name
        driver = $_.DriverName; port = $_.PortName; shared = [bool]$_.Shared
        location = [string]$_.Location; comment = [string]$_.Comment } })
} | ConvertTo-Json -Depth 4 -Compress
"""

APPLY = r"""
[CmdletBinding()]
param ([string]$Actions)
$ErrorActionPreference = 'Stop'
foreach ($a in @(ConvertFrom-Json $Actions)) {
    $q = @{ Name = $a.name }
    switch ($a.op) {
        'add_driver' { Add-PrinterDriver @q }
        'add_port' {
            if ($a.lpr_queue) {
                Add-PrinterPort @q -LprHostAddress $a.host -LprQueueName $a.lpr_queue }
            else { Add-PrinterPort @q -PrinterHostAddress $a.host -PortNumber $a.port } }
        { $_ -in 'add_printer', 'set_printer' } {
            $q += @{ DriverName = $a.driver; PortName = $a.port; Location = $a.location
                     Comment = $a.comment; Shared = [bool]$a.shared }
            if ($a.shared) { $q.ShareName = $a.name }
            if ($a.op -eq 'add_printer') { Add-Printer @q } else { Set-Printer @q } }
        'remove_printer' { Remove-Printer @q }
    }
}
"""

QUEUE_KEYS = ("driver", "port", "shared", "location", "comment")


def port_of(uri: str | None) -> dict[str, Any]:
    """The TCP/IP port a device URI needs; ValueError for what Windows cannot do here."""
    parts = urlsplit(uri or "")
    host = parts.hostname
    if parts.scheme == "socket" and host:
        number = parts.port or 9100
        return {"name": f"mspctl_{host}_{number}", "host": host, "port": number, "lpr_queue": None}
    if parts.scheme == "lpd" and host and parts.path.strip("/"):
        queue = parts.path.strip("/")
        return {"name": f"mspctl_{host}_lpr_{queue}", "host": host, "port": 515, "lpr_queue": queue}
    raise ValueError(
        f"device URI {uri!r}: on Windows only socket://HOST[:PORT] and lpd://HOST/QUEUE"
    )


def parse_probe(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ProbeError("the probe did not return a JSON object")
    out: dict[str, Any] = {"drivers": strings(data.get("drivers"), "drivers")}
    for key in ("ports", "printers"):
        value = data.get(key) or []
        if isinstance(value, Mapping):
            value = [value]
        if not isinstance(value, list) or not all(
            isinstance(v, Mapping) and isinstance(v.get("name"), str) for v in value
        ):
            raise ProbeError(f"{key}: not a list of objects with a name")
        out[key] = {v["name"]: dict(v) for v in value}
    return out


def desired(queues: Sequence[Mapping[str, Any]], sharing: bool) -> dict[str, Any]:
    """The queues (present and absent) and the ports they need; ValueError naming the queue."""
    present: dict[str, dict[str, Any]] = {}
    ports: dict[str, dict[str, Any]] = {}
    absent: list[str] = []
    for queue in queues:
        name = queue["name"]
        if (queue.get("state") or "present") == "absent":
            absent.append(name)
            continue
        if not queue.get("driver"):
            raise ValueError(f"queue {name}: driver: a Windows driver name is required")
        try:
            port = port_of(queue.get("uri"))
        except ValueError as exc:
            raise ValueError(f"queue {name}: uri: {exc}") from None
        ports[port["name"]] = port
        present[name] = {
            "driver": queue["driver"],
            "port": port["name"],
            "shared": bool(queue.get("shared")) and sharing,
            "location": queue.get("location") or "",
            "comment": queue.get("description") or "",
        }
    return {"printers": present, "ports": ports, "absent": absent}


def _managed(current: Mapping[str, Any], name: str) -> dict[str, Any]:
    have = current["printers"][name]
    return {k: have.get(k) if k != "shared" else bool(have.get(k)) for k in QUEUE_KEYS}


def unlisted(current: Mapping[str, Any], want: Mapping[str, Any]) -> list[str]:
    """Queues on TCP/IP ports that the inventory does not name."""
    tcp = {n for n, p in current["ports"].items() if p.get("host")}
    return sorted(
        n
        for n, p in current["printers"].items()
        if p.get("port") in tcp and n not in want["printers"]
    )


def plan(
    current: Mapping[str, Any], want: Mapping[str, Any], remove_unlisted: bool
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """``(actions, before, after)``: the actions in order (drivers, ports, queues, removals)
    and the managed queues before and after them."""
    actions: list[dict[str, Any]] = []
    drivers = {d.lower() for d in current["drivers"]}
    for driver in sorted({q["driver"] for q in want["printers"].values()}):
        if driver.lower() not in drivers:
            actions.append({"op": "add_driver", "name": driver})
    for name, port in sorted(want["ports"].items()):
        if name not in current["ports"]:
            actions.append({"op": "add_port", **port})
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, queue in sorted(want["printers"].items()):
        after[name] = dict(queue)
        if name not in current["printers"]:
            actions.append({"op": "add_printer", "name": name, **queue})
            continue
        before[name] = _managed(current, name)
        if before[name] != queue:
            actions.append({"op": "set_printer", "name": name, **queue})
    removed = [n for n in want["absent"] if n in current["printers"]]
    if remove_unlisted:
        removed += [n for n in unlisted(current, want) if n not in removed]
    for name in sorted(removed):
        before[name] = _managed(current, name)
        actions.append({"op": "remove_printer", "name": name})
    return actions, before, after


def evaluate(
    current: Mapping[str, Any] | ProbeError,
    queues: Sequence[Mapping[str, Any]],
    want: Mapping[str, Any],
    remove_unlisted: bool,
) -> list[dict[str, Any]]:
    """The findings of the state as read (after the changes, outside check mode)."""
    findings = Findings("printers")
    error = str(current) if isinstance(current, ProbeError) else None
    for queue in queues:
        name = queue["name"]
        evidence = {"queue": name}
        if name in want["absent"]:
            control, title = f"printers.queue_absent.{name}", f"Queue {name} is removed"
            if error:
                findings.error(control, title, error, evidence)
            else:
                gone = name not in current["printers"]  # type: ignore[index]
                findings.check(
                    control, title, gone, "absent", "absent" if gone else "present", evidence
                )
            continue
        wanted = want["printers"][name]
        present_id, uri_id = f"printers.queue_present.{name}", f"printers.device_uri.{name}"
        if error:
            findings.error(present_id, f"Queue {name} is present", error, evidence)
            findings.error(
                uri_id, f"Queue {name} prints to the inventory's device", error, evidence
            )
            continue
        have = current["printers"].get(name)  # type: ignore[index]
        findings.check(
            present_id,
            f"Queue {name} is present",
            have is not None,
            "present",
            "present" if have else "absent",
            evidence,
        )
        findings.check(
            uri_id,
            f"Queue {name} prints to the inventory's device",
            bool(have) and have.get("port") == wanted["port"],
            wanted["port"],
            have.get("port") if have else "absent",
            evidence,
        )
    if remove_unlisted:
        title = "No print queue outside the inventory"
        if error:
            findings.error("printers.unlisted", title, error)
        else:
            extra = unlisted(current, want)  # type: ignore[arg-type]
            findings.check("printers.unlisted", title, not extra, [], extra)
    return findings.as_list()
