# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The patching policy's judgement on a Windows host, made on the controller.

A short PowerShell probe (``PROBE``, run by the ``mspctl.policy.win_patch_status`` action
plugin through ``ansible.windows.win_powershell``) reads the Windows Update Agent API and prints
one JSON document; everything else (which update is security, held, too old, whether a reboot
or a patch run is due) is decided here, in Python, and unit-tested against recorded outputs.

The probe's fields, from Microsoft's documented Windows Update Agent and CIM types:

``updates`` (list), one per ``IUpdateSearcher.Search("IsInstalled=0 and IsHidden=0 and
Type='Software'")`` result (``IUpdate``):
  ``title``       IUpdate.Title, e.g. "2026-11 Cumulative Update for Microsoft server operating
                  system version 21H2 for x64-based Systems (KB5046616)"
  ``kb``          IUpdate.KBArticleIDs: digits without "KB" (["5046616"])
  ``categories``  ICategory.Name of IUpdate.Categories: "Security Updates", "Critical Updates",
                  "Definition Updates", "Update Rollups", "Updates", "Feature Packs",
                  "Service Packs", "Tools", "Drivers", "Upgrades", plus product names
                  ("Windows Server 2022")
  ``severity``    IUpdate.MsrcSeverity: "Critical", "Important", "Moderate", "Low" or "" (none)
  ``published``   IUpdate.LastDeploymentChangeTime, ISO 8601 in UTC: when Microsoft last
                  published the update (its release, for the age of a pending update)
  ``reboot_behavior`` IUpdate.InstallationBehavior.RebootBehavior: 0 never reboots,
                  1 always requires a reboot, 2 can request one
``reboot_required``  ISystemInformation.RebootRequired (Microsoft.Update.SystemInfo): bool
``last_search``      IAutomaticUpdatesResults.LastSearchSuccessDate, ISO 8601 UTC or null
``last_install``     IAutomaticUpdatesResults.LastInstallationSuccessDate, ISO 8601 UTC or null
                     (Microsoft.Update.AutoUpdate .Results; any successful install, by mspctl,
                     by Windows Update itself or by a person)
``boot_time``        Win32_OperatingSystem.LastBootUpTime, ISO 8601 UTC

A pending update's age is counted from ``published`` (Debian counts from when mspctl first saw
it; on Windows the agent's own date needs no state file on the host).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import Findings
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    parse_date,
    strings,
)

# Kept short on purpose: it only reads. [CmdletBinding(SupportsShouldProcess)] lets
# win_powershell run it in check mode too (it changes nothing).
PROBE = r"""
[CmdletBinding(SupportsShouldProcess)]
param ()
$ErrorActionPreference = 'Stop'
$Ansible.Changed = $false
function Iso($d) { if ($d -and $d.Year -gt 1601) { $d.ToUniversalTime().ToString('o') } }
$searcher = (New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher()
$found = $searcher.Search("IsInstalled=0 and IsHidden=0 and Type='Software'").Updates
$au = (New-Object -ComObject Microsoft.Update.AutoUpdate).Results
[ordered]@{
    updates = @($found | ForEach-Object { [ordered]@{
        title = $_.Title; kb = @($_.KBArticleIDs | ForEach-Object { $_ })
        severity = [string]$_.MsrcSeverity
        categories = @($_.Categories | ForEach-Object { $_.Name })
        published = Iso $_.LastDeploymentChangeTime
        reboot_behavior = [int]$_.InstallationBehavior.RebootBehavior } })
    reboot_required = [bool](New-Object -ComObject Microsoft.Update.SystemInfo).RebootRequired
    last_search = Iso $au.LastSearchSuccessDate
    last_install = Iso $au.LastInstallationSuccessDate
    boot_time = Iso (Get-CimInstance Win32_OperatingSystem).LastBootUpTime
} | ConvertTo-Json -Depth 5 -Compress
"""

# the categories the tier's `security` scope installs (win_updates category_names)
SECURITY_CATEGORIES = ("Security Updates", "Critical Updates")
CATEGORY_NAMES = {"security": ["SecurityUpdates", "CriticalUpdates"], "all": ["*"]}
DAY = 86400.0
SHOWN = 20  # titles listed in evidence


def parse_probe(data: Any) -> dict[str, Any]:
    """The probe's JSON checked field by field; raises ProbeError naming the wrong field."""
    if not isinstance(data, Mapping):
        raise ProbeError("the probe did not return a JSON object")
    raw_updates = data.get("updates")
    if isinstance(raw_updates, Mapping):  # a single update, unwrapped by ConvertTo-Json
        raw_updates = [raw_updates]
    if not isinstance(raw_updates, list):
        raise ProbeError(f"updates: not a list: {raw_updates!r}")
    updates = []
    for index, raw in enumerate(raw_updates):
        where = f"updates[{index}]"
        if not isinstance(raw, Mapping) or not isinstance(raw.get("title"), str):
            raise ProbeError(f"{where}.title: missing")
        behavior = raw.get("reboot_behavior", 0)
        if behavior not in (0, 1, 2):
            raise ProbeError(f"{where}.reboot_behavior: not 0, 1 or 2: {behavior!r}")
        updates.append(
            {
                "title": raw["title"],
                "kb": [k.upper().removeprefix("KB") for k in strings(raw.get("kb"), f"{where}.kb")],
                "categories": strings(raw.get("categories"), f"{where}.categories"),
                "severity": str(raw.get("severity") or ""),
                "published": parse_date(raw.get("published"), f"{where}.published"),
                "reboot_behavior": behavior,
            }
        )
    reboot = data.get("reboot_required")
    if not isinstance(reboot, bool):
        raise ProbeError(f"reboot_required: not a boolean: {reboot!r}")
    return {
        "updates": updates,
        "reboot_required": reboot,
        "last_search": parse_date(data.get("last_search"), "last_search"),
        "last_install": parse_date(data.get("last_install"), "last_install"),
        "boot_time": parse_date(data.get("boot_time"), "boot_time"),
    }


def is_security(update: Mapping[str, Any]) -> bool:
    return any(c in SECURITY_CATEGORIES for c in update["categories"])


def held_by(update: Mapping[str, Any], holds: Sequence[str]) -> str | None:
    """The hold (a KB id like KB5034441, or a regular expression on the title, as
    ``win_updates``' reject_list reads it) that keeps this update back, if any."""
    for hold in holds:
        kb = hold.strip().upper().removeprefix("KB")
        if kb.isdigit() and kb in update["kb"]:
            return hold
        try:
            if re.search(hold, update["title"], re.IGNORECASE):
                return hold
        except re.error:
            continue
    return None


def _label(update: Mapping[str, Any]) -> str:
    kb = ", ".join(f"KB{k}" for k in update["kb"])
    return f"{update['title']}" if not kb or kb in update["title"] else f"{update['title']} ({kb})"


def _age_days(update: Mapping[str, Any], now: datetime.datetime) -> float:
    published = update["published"]
    return (now - published).total_seconds() / DAY if published else 0.0


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _updates_finding(
    findings: Findings,
    control: str,
    title: str,
    updates: Sequence[Mapping[str, Any]],
    held: Sequence[str],
    deferral: int,
    now: datetime.datetime,
) -> None:
    expected = "none pending" if deferral <= 0 else f"none pending for {deferral} days or more"
    if not updates:
        findings.check(
            control, title, True, expected, "none pending", evidence={"held": held[:SHOWN]}
        )
        return
    oldest = max(_age_days(u, now) for u in updates)
    findings.check(
        control,
        title,
        oldest < deferral,
        expected,
        f"{len(updates)} pending, oldest published {oldest:.1f} days ago",
        evidence={
            "updates": sorted(_label(u) for u in updates)[:SHOWN],
            "held": held[:SHOWN],
            "oldest_days": round(oldest, 2),
        },
    )


def evaluate(
    params: Mapping[str, Any], probe: Mapping[str, Any] | ProbeError, now: datetime.datetime
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``(findings, status)`` of the patching policy from the parsed probe (``parse_probe``)
    or the error that kept it from being read. The controls and their ids are the Debian
    ones (``patch_status``), so reports and waivers treat both platforms alike."""
    findings = Findings("patching")
    window = params.get("window") or {}
    host_class = params.get("host_class") or ""
    findings.check(
        "patching.window",
        "The host's class has a patch window",
        bool(host_class and window),
        expected="a window for one of the host's classes",
        actual=(
            f"{host_class}: {window.get('reason')}, next {window.get('next_start_local')}"
            if host_class and window
            else "no window for this host class"
        ),
        evidence={"host_class": host_class or None},
    )
    scope = params.get("scope", "security")
    if isinstance(probe, ProbeError):
        findings.error("patching.security_updates", "Security updates are applied", str(probe))
        if scope == "all":
            findings.error("patching.other_updates", "Other updates are applied", str(probe))
        findings.error("patching.reboot_required", "No reboot is pending", str(probe))
        findings.error("patching.last_patch_age", "A patch run completed recently", str(probe))
        return findings.as_list(), {"platform": "windows", "error": str(probe)}

    holds = list(params.get("holds") or []) + list(params.get("exclusions") or [])
    live: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for update in probe["updates"]:
        (held if held_by(update, holds) else live).append(update)
    security = [u for u in live if is_security(u)]
    other = [u for u in live if not is_security(u)]
    held_labels = sorted(_label(u) for u in held)
    deferral = int(params.get("deferral_days", 0))
    _updates_finding(
        findings,
        "patching.security_updates",
        "No security update pending beyond the deferral period",
        security,
        held_labels,
        deferral,
        now,
    )
    if scope == "all":
        _updates_finding(
            findings,
            "patching.other_updates",
            "No other update pending beyond the deferral period",
            other,
            held_labels,
            deferral,
            now,
        )

    reboot_window = params.get("reboot_window") or {}
    required = probe["reboot_required"]
    findings.check(
        "patching.reboot_required",
        "No reboot is pending",
        not required,
        expected="no reboot required",
        actual="reboot required" if required else "no reboot required",
        evidence={
            "policy": params.get("reboot_policy", "if_required"),
            "next_reboot_window": reboot_window.get("next_start_local"),
            "boot_time": _iso(probe["boot_time"]),
        },
    )

    # A host with nothing to install in its scope is as patched as it gets: its last search
    # counts. Otherwise the last successful installation must be recent.
    in_scope = security + (other if scope == "all" else [])
    last = probe["last_install"] if in_scope else probe["last_search"] or probe["last_install"]
    age = (now - last).total_seconds() / DAY if last else None
    max_age = int(params.get("max_age_days", 35))
    findings.check(
        "patching.last_patch_age",
        "A patch run completed recently",
        age is not None and age <= max_age,
        expected=f"within {max_age} days",
        actual="never" if age is None else f"{age:.1f} days ago",
        evidence={
            "last_install": _iso(probe["last_install"]),
            "last_search": _iso(probe["last_search"]),
        },
    )
    status = {
        "platform": "windows",
        "host_class": host_class or None,
        "pending_security": len(security),
        "pending_other": len(other),
        "pending_held": len(held),
        "pending": {
            "security": sorted(_label(u) for u in security),
            "other": sorted(_label(u) for u in other),
            "held": held_labels,
        },
        "pending_ages_days": {
            _label(u): round(_age_days(u, now), 1) for u in sorted(live, key=_label)
        },
        "last_patch": _iso(probe["last_install"]),
        "last_patch_age_days": round(age, 2) if age is not None else None,
        "reboot_required": required,
        "reboot_policy": params.get("reboot_policy", "if_required"),
        "boot_time": _iso(probe["boot_time"]),
    }
    return findings.as_list(), status


def reboot_due(
    policy: str, reboot_required: bool, installed: bool, installed_need_reboot: bool
) -> bool:
    """Whether the reboot policy asks for a reboot after this patch run: ``always`` after
    a run that installed something, ``if_required`` when Windows says so, ``never`` never."""
    if policy == "never":
        return False
    if policy == "always":
        return installed or reboot_required
    return reboot_required or installed_need_reboot
