# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitoring policy on a Windows host (windows_exporter), judged on the controller.

``PROBE`` (run by ``mspctl.policy.win_monitoring_status`` through ``win_powershell``) reads:

``service``   ``Win32_Service`` of the exporter: ``state`` (``Running``, ``Stopped``, ...) and
              ``start_mode`` (``Auto``, ``Manual``, ``Disabled``); null when not installed
``firewall``  ``Get-NetFirewallRule -Name``: ``enabled`` (``True``/``False``, the
              ``Enabled`` enum as text), ``action`` (``Allow``/``Block``), ``direction``
              (``Inbound``/``Outbound``), ``local_port`` and ``remote_address``
              (``Get-NetFirewallPortFilter``/``Get-NetFirewallAddressFilter``: lists of
              text, ``Any`` for any); null when the rule does not exist
``metrics``   the lines of the exporter's ``/metrics`` (Prometheus text format) for
              ``windows_exporter_build_info``, ``windows_logical_disk_free_bytes``,
              ``windows_logical_disk_size_bytes`` and ``mspctl_*`` (the textfile collector);
              null when the scrape failed, ``scrape_error`` then says why

The controls share the Debian ids: ``monitoring.agent_running``, ``monitoring.metrics_exposed``
(the exporter answers and the mspctl textfile metrics are in it), ``monitoring.disk_usage``
(``windows_logical_disk``: used = 1 - free/size per volume, ``HarddiskVolume*`` volumes without
a letter left out), ``monitoring.msp_hook``; plus ``monitoring.firewall_rule`` (the rule lets
the MSP's Prometheus in on the exporter's port).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import Findings
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    strings,
)

PROBE = r"""
[CmdletBinding(SupportsShouldProcess)]
param ([string]$Service, [string]$Rule, [string]$Url)
$ErrorActionPreference = 'Stop'
$Ansible.Changed = $false
$svc = Get-CimInstance Win32_Service -Filter "Name='$Service'"
$fw = Get-NetFirewallRule -Name $Rule -ErrorAction SilentlyContinue
$metrics = $null; $scrapeError = $null
try {
    $text = (Invoke-WebRequest -Uri $Url -UseBasicParsing -TimeoutSec 10).Content
    $metrics = @($text -split "`n" | Where-Object {
        $_ -match '^(windows_exporter_build_info|windows_logical_disk_(free|size)_bytes|mspctl_)' })
} catch { $scrapeError = $_.Exception.Message }
[ordered]@{
    service = if ($svc) { [ordered]@{ state = [string]$svc.State
        start_mode = [string]$svc.StartMode } }
    firewall = if ($fw) { [ordered]@{ enabled = [string]$fw.Enabled; action = [string]$fw.Action
        direction = [string]$fw.Direction
        local_port = @(($fw | Get-NetFirewallPortFilter).LocalPort)
        remote_address = @(($fw | Get-NetFirewallAddressFilter).RemoteAddress) } }
    metrics = $metrics; scrape_error = $scrapeError
} | ConvertTo-Json -Depth 4 -Compress
"""

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)"
)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def samples(lines: list[str]) -> list[tuple[str, dict[str, str], float]]:
    """Samples of Prometheus text-format lines (comments and unparsable lines left out)."""
    out = []
    for line in lines:
        match = _SAMPLE.match(line.strip())
        if not match:
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        out.append((match["name"], dict(_LABEL.findall(match["labels"] or "")), value))
    return out


def parse_probe(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ProbeError("the probe did not return a JSON object")
    for key in ("service", "firewall"):
        if data.get(key) is not None and not isinstance(data[key], Mapping):
            raise ProbeError(f"{key}: not an object: {data[key]!r}")
    firewall = data.get("firewall")
    if firewall is not None:
        firewall = {
            **firewall,
            "local_port": strings(firewall.get("local_port"), "firewall.local_port"),
            "remote_address": strings(firewall.get("remote_address"), "firewall.remote_address"),
        }
    metrics = data.get("metrics")
    return {
        "service": data.get("service"),
        "firewall": firewall,
        "metrics": None if metrics is None else strings(metrics, "metrics"),
        "scrape_error": data.get("scrape_error"),
    }


def disks(metrics: list[str]) -> list[dict[str, Any]]:
    """Used share of each lettered volume from ``windows_logical_disk_{free,size}_bytes``."""
    free: dict[str, float] = {}
    size: dict[str, float] = {}
    for name, labels, value in samples(metrics):
        volume = labels.get("volume", "")
        if not re.fullmatch(r"[A-Za-z]:", volume):
            continue  # HarddiskVolumeN: recovery and EFI partitions without a letter
        if name == "windows_logical_disk_free_bytes":
            free[volume] = value
        elif name == "windows_logical_disk_size_bytes":
            size[volume] = value
    return [
        {
            "mountpoint": volume,
            "used_percent": round((1 - free[volume] / size[volume]) * 100, 1),
        }
        for volume in sorted(size)
        if volume in free and size[volume] > 0
    ]


def evaluate(
    params: Mapping[str, Any], probe: Mapping[str, Any] | ProbeError
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``(findings, status)`` of the monitoring policy from the parsed probe."""
    findings = Findings("monitoring")
    status: dict[str, Any] = {"platform": "windows"}
    controls = (
        (
            "monitoring.agent_running",
            "The windows_exporter service is running and starts automatically",
        ),
        ("monitoring.firewall_rule", "The firewall lets the MSP scrape the exporter"),
        (
            "monitoring.metrics_exposed",
            "The exporter serves metrics with mspctl's textfile metrics",
        ),
    )
    if isinstance(probe, ProbeError):
        for control, title in controls:
            findings.error(control, title, str(probe))
        _msp_hook(findings, status, params)
        return findings.as_list(), {**status, "error": str(probe)}

    service = probe["service"] or {}
    running = service.get("state") == "Running"
    automatic = service.get("start_mode") == "Auto"
    status["agent"] = {
        "service": params["service"],
        "state": service.get("state"),
        "start_mode": service.get("start_mode"),
        "port": params["port"],
    }
    findings.check(
        controls[0][0],
        controls[0][1],
        running and automatic,
        expected="Running, Auto",
        actual=f"{service.get('state')}, {service.get('start_mode')}"
        if service
        else "not installed",
        evidence={"service": params["service"]},
    )

    rule = probe["firewall"]
    port = str(params["port"])
    allowed = params.get("allowed_addresses") or []
    if rule is None:
        findings.check(
            controls[1][0],
            controls[1][1],
            False,
            f"inbound TCP {port} allowed",
            "no such rule",
            evidence={"rule": params["rule"]},
        )
    else:
        remote = rule["remote_address"]
        open_to_msp = (
            not allowed or "Any" in remote or all(any(a in r for r in remote) for a in allowed)
        )
        ok = (
            rule.get("enabled") == "True"
            and rule.get("action") == "Allow"
            and rule.get("direction") == "Inbound"
            and (port in rule["local_port"] or "Any" in rule["local_port"])
            and open_to_msp
        )
        findings.check(
            controls[1][0],
            controls[1][1],
            ok,
            f"inbound TCP {port} allowed from {', '.join(allowed) or 'any address'}",
            "{} {} {}, ports {}, from {}".format(
                "enabled" if rule.get("enabled") == "True" else "disabled",
                rule.get("direction"),
                rule.get("action"),
                ", ".join(rule["local_port"]) or "-",
                ", ".join(remote) or "-",
            ),
            evidence={"rule": params["rule"]},
        )

    metrics = probe["metrics"]
    if metrics is None:
        findings.check(
            controls[2][0],
            controls[2][1],
            False,
            "windows_exporter_build_info and mspctl_* metrics",
            f"scrape failed: {probe['scrape_error']}",
            evidence={"url": params["url"]},
        )
    else:
        names = {name for name, _labels, _value in samples(metrics)}
        exporter = "windows_exporter_build_info" in names
        mspctl = sorted(n for n in names if n.startswith("mspctl_"))
        findings.check(
            controls[2][0],
            controls[2][1],
            exporter and bool(mspctl),
            "windows_exporter_build_info and mspctl_* metrics",
            "{}; {} mspctl metric(s)".format(
                "exporter answers" if exporter else "no windows_exporter_build_info", len(mspctl)
            ),
            evidence={"url": params["url"], "mspctl_metrics": mspctl},
        )
        if "disk_usage" in params["checks"]:
            rows = disks(metrics)
            status["disks"] = rows
            limit = params["disk_crit_percent"]
            full = [r["mountpoint"] for r in rows if r["used_percent"] > limit]
            fullest = max(rows, key=lambda r: r["used_percent"]) if rows else None
            findings.check(
                "monitoring.disk_usage",
                f"No data file system is fuller than {limit} %",
                not full and bool(rows),
                f"<= {limit} %",
                f"{fullest['mountpoint']} at {fullest['used_percent']} %"
                if fullest
                else "no volume in the metrics",
                evidence={"above": full},
            )
    _msp_hook(findings, status, params)
    return findings.as_list(), status


def _msp_hook(findings: Findings, status: dict[str, Any], params: Mapping[str, Any]) -> None:
    hook = {k: v for k, v in (params.get("msp_hook") or {}).items() if v}
    status["msp_hook"] = hook
    findings.check(
        "monitoring.msp_hook",
        "The host is registered with the MSP monitoring host",
        bool(hook.get("server")),
        "a scrape target on the MSP host",
        f"{hook.get('target')} on {hook['server']}"
        if hook.get("server")
        else "no MSP monitoring host in the inventory",
        evidence=hook,
    )
