# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The baseline policy on a Windows host, judged on the controller.

The tier's baseline ``controls``/``tier_controls`` are Linux ones (Debian packages, systemd
units, file modes, sysctl keys, commands): they do not apply to Windows. A tier names the
Windows controls it wants in ``windows_controls`` (role variable ``baseline_windows_controls``),
each an id of ``CONTROLS`` with its parameters. ``PROBE`` (run by ``mspctl.policy.win_baseline``
through ``win_powershell``) reads what they need and prints one JSON document, documented field
by field in ``tests/fixtures/windows/README.md``; ``evaluate`` decides pass or fail here.

``windows.firewall``           every firewall profile (Domain, Private, Public) is enabled
``windows.defender_realtime``  Microsoft Defender real-time protection is on (passive mode:
                               another antivirus is primary, passes and says so)
``windows.bitlocker_system``   the system drive's BitLocker protection is ``On``
``windows.update_service``     the Windows Update service (wuauserv) is not disabled
``windows.local_admins``       the built-in Administrator (RID 500) is disabled and no other
                               enabled local account is an administrator than ``allowed`` (the
                               account mspctl connects with is always allowed)
``windows.smb1_disabled``      SMB 1.0 is off, server (``EnableSMB1Protocol``) and client
                               (the ``mrxsmb10`` driver absent or disabled)
``windows.rdp_nla``            Remote Desktop is off, or requires Network Level Authentication
``windows.screen_lock``        the machine inactivity limit locks the screen within
                               ``max_seconds`` (900)
``windows.password_policy``    local accounts' passwords at least ``min_length`` (12)
                               characters, complexity on, lockout after at most
                               ``lockout_threshold`` (10) bad attempts
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import Findings
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import ProbeError

POLICY = "baseline"

# id: (title, default parameters)
CONTROLS: dict[str, tuple[str, dict[str, Any]]] = {
    "windows.firewall": ("Windows Firewall is on for every profile", {}),
    "windows.defender_realtime": ("Microsoft Defender protects the host in real time", {}),
    "windows.bitlocker_system": ("The system drive is encrypted with BitLocker", {}),
    "windows.update_service": ("The Windows Update service is not disabled", {}),
    "windows.local_admins": (
        "The built-in Administrator is disabled and no unlisted local account is an administrator",
        {"allowed": []},
    ),
    "windows.smb1_disabled": ("SMB 1.0 is off (server and client)", {}),
    "windows.rdp_nla": ("Remote Desktop is off or requires Network Level Authentication", {}),
    "windows.screen_lock": ("An idle session locks the screen", {"max_seconds": 900}),
    "windows.password_policy": (
        "Local passwords are long and complex, and bad attempts lock the account",
        {"min_length": 12, "lockout_threshold": 10},
    ),
}

PROBE = r"""
[CmdletBinding(SupportsShouldProcess)]
param ()
$ErrorActionPreference = 'Stop'
$Ansible.Changed = $false
function Has($c) { [bool](Get-Command $c -ErrorAction SilentlyContinue) }
function Reg([string]$Path, [string]$Name) {
    $v = Get-ItemProperty -LiteralPath $Path -Name $Name -ErrorAction SilentlyContinue
    if ($v) { $v.$Name }
}
$mp = if (Has Get-MpComputerStatus) { Get-MpComputerStatus -ErrorAction SilentlyContinue }
$bl = if (Has Get-BitLockerVolume) {
    Get-BitLockerVolume -MountPoint $env:SystemDrive -ErrorAction SilentlyContinue }
$wu = Get-CimInstance Win32_Service -Filter "Name='wuauserv'"
$admins = [ordered]@{ members = $null; error = $null }
try {
    $admins.members = @(Get-LocalGroupMember -SID 'S-1-5-32-544' | ForEach-Object {
        $local = [string]$_.PrincipalSource -eq 'Local' -and [string]$_.ObjectClass -eq 'User'
        $user = if ($local) { Get-LocalUser -SID $_.SID -ErrorAction SilentlyContinue }
        [ordered]@{ name = $_.Name; sid = [string]$_.SID; source = [string]$_.PrincipalSource
            class = [string]$_.ObjectClass; enabled = if ($user) { [bool]$user.Enabled } } })
} catch { $admins.error = $_.Exception.Message }
$builtin = if (Has Get-LocalUser) { Get-LocalUser | Where-Object { $_.SID.Value -match '-500$' } }
$smb = if (Has Get-SmbServerConfiguration) { Get-SmbServerConfiguration }
$rdp = 'HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server'
$system = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System'
$policy = $null
$inf = Join-Path $env:TEMP ('mspctl-secedit-' + [guid]::NewGuid().ToString('N') + '.inf')
try {
    $null = & secedit.exe /export /areas SECURITYPOLICY /cfg $inf /quiet
    if (Test-Path -LiteralPath $inf) {
        $policy = [ordered]@{}
        foreach ($line in Get-Content -LiteralPath $inf) {
            $keys = 'MinimumPasswordLength|PasswordComplexity|LockoutBadCount|MaximumPasswordAge'
            if ($line -match "^($keys)\s*=\s*(-?\d+)") { $policy[$Matches[1]] = [int]$Matches[2] }
        }
    }
} finally { Remove-Item -LiteralPath $inf -Force -ErrorAction SilentlyContinue }
[ordered]@{
    firewall = @(Get-NetFirewallProfile | ForEach-Object {
        [ordered]@{ name = [string]$_.Name; enabled = [string]$_.Enabled } })
    defender = if ($mp) { [ordered]@{ realtime = $mp.RealTimeProtectionEnabled
        mode = [string]$mp.AMRunningMode } }
    bitlocker = if ($bl) { [ordered]@{ mount_point = $bl.MountPoint
        protection = [string]$bl.ProtectionStatus; status = [string]$bl.VolumeStatus } }
    update_service = if ($wu) { [ordered]@{ state = [string]$wu.State
        start_mode = [string]$wu.StartMode } }
    admins = $admins
    builtin_admin = if ($builtin) { [ordered]@{ name = $builtin.Name
        enabled = [bool]$builtin.Enabled } }
    smb1 = [ordered]@{ server = if ($smb) { [bool]$smb.EnableSMB1Protocol }
        client_start = Reg 'HKLM:\SYSTEM\CurrentControlSet\Services\mrxsmb10' 'Start' }
    rdp = [ordered]@{ deny = Reg $rdp 'fDenyTSConnections'
        nla = Reg "$rdp\WinStations\RDP-Tcp" 'UserAuthentication' }
    inactivity_timeout = Reg $system 'InactivityTimeoutSecs'
    password_policy = $policy
} | ConvertTo-Json -Depth 5 -Compress
"""


def _int(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProbeError(f"{field}: not an integer: {value!r}")
    return value


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is not None and not isinstance(value, Mapping):
        raise ProbeError(f"{key}: not an object: {value!r}")
    return value


def _objects(value: Any, field: str) -> list[Mapping[str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ProbeError(f"{field}: not a list of objects: {value!r}")
    return value


def _same_account(a: str, b: str) -> bool:
    """``HOST\\name``, ``.\\name`` and ``name`` name the same local account."""
    return a.rsplit("\\", 1)[-1].casefold() == b.rsplit("\\", 1)[-1].casefold()


def evaluate(
    controls: Sequence[Mapping[str, Any]], data: Any, connect_user: str = ""
) -> list[dict[str, Any]]:
    """One finding per requested control, in the tier's order; ProbeError naming a malformed
    field of the probe. Ids are checked by the role's argument spec (``choices``)."""
    if not isinstance(data, Mapping):
        raise ProbeError("the probe did not return a JSON object")
    findings = Findings(POLICY)
    for control in controls:
        cid = str(control.get("id"))
        if cid not in CONTROLS:
            raise ProbeError(f"{cid}: not a Windows baseline control ({', '.join(CONTROLS)})")
        title, defaults = CONTROLS[cid]
        params = {**defaults, **{k: v for k, v in control.items() if v is not None}}
        title = str(control.get("title") or title)
        JUDGES[cid](findings, cid, title, data, params, connect_user)
    return findings.as_list()


def _firewall(f: Findings, cid: str, title: str, data: Mapping[str, Any], *_: Any) -> None:
    profiles = _objects(data.get("firewall"), "firewall") or []
    state = {str(p.get("name")): str(p.get("enabled")) for p in profiles}
    off = sorted(name for name, on in state.items() if on != "True")
    missing = sorted({"Domain", "Private", "Public"} - set(state))
    f.check(
        cid,
        title,
        not off and not missing,
        "Domain, Private and Public enabled",
        f"off: {', '.join(off + missing)}" if off or missing else "all profiles enabled",
        {"profiles": state},
    )


def _defender(f: Findings, cid: str, title: str, data: Mapping[str, Any], *_: Any) -> None:
    defender = _mapping(data, "defender")
    if defender is None:
        f.error(cid, title, "no Microsoft Defender status (Get-MpComputerStatus)")
        return
    mode = str(defender.get("mode") or "")
    if "passive" in mode.lower():
        f.check(
            cid, title, True, "real-time protection on", f"{mode}: another antivirus is primary"
        )
        return
    on = defender.get("realtime") is True
    f.check(
        cid,
        title,
        on,
        "real-time protection on",
        "on" if on else "off",
        {"mode": mode},
    )


def _bitlocker(f: Findings, cid: str, title: str, data: Mapping[str, Any], *_: Any) -> None:
    volume = _mapping(data, "bitlocker")
    if volume is None:
        f.check(cid, title, False, "protection On", "BitLocker is not installed")
        return
    protection = str(volume.get("protection") or "Unknown")
    f.check(
        cid,
        title,
        protection == "On",
        "protection On",
        f"{volume.get('mount_point')} protection {protection}, {volume.get('status')}",
        dict(volume),
    )


def _update_service(f: Findings, cid: str, title: str, data: Mapping[str, Any], *_: Any) -> None:
    service = _mapping(data, "update_service")
    if service is None:
        f.check(cid, title, False, "start mode Auto or Manual", "wuauserv not installed")
        return
    mode = str(service.get("start_mode") or "")
    f.check(
        cid,
        title,
        mode in ("Auto", "Manual"),
        "start mode Auto or Manual",
        f"start mode {mode or 'unknown'}, {service.get('state')}",
        dict(service),
    )


def _local_admins(
    f: Findings,
    cid: str,
    title: str,
    data: Mapping[str, Any],
    params: Mapping[str, Any],
    connect_user: str,
) -> None:
    admins = _mapping(data, "admins") or {}
    if admins.get("error"):
        # Get-LocalGroupMember fails on a group holding an orphaned SID: say so, not pass
        f.error(cid, title, f"Get-LocalGroupMember: {admins['error']}")
        return
    members = _objects(admins.get("members"), "admins.members") or []
    allowed = [str(a) for a in params.get("allowed") or []] + (
        [connect_user] if connect_user else []
    )
    builtin = _mapping(data, "builtin_admin")
    problems = []
    if builtin is not None and builtin.get("enabled") is True:
        problems.append(f"built-in {builtin.get('name')} enabled")
    extra = [
        str(m.get("name"))
        for m in members
        if m.get("source") == "Local"
        and m.get("class") == "User"
        and m.get("enabled") is True
        and not str(m.get("sid") or "").endswith("-500")
        and not any(_same_account(str(m.get("name")), a) for a in allowed)
    ]
    if extra:
        problems.append(f"unlisted local administrators: {', '.join(sorted(extra))}")
    f.check(
        cid,
        title,
        not problems,
        "built-in Administrator disabled; local administrators: "
        + (", ".join(a.rsplit("\\", 1)[-1] for a in allowed) or "none"),
        "; ".join(problems) or "as expected",
        {"members": [dict(m) for m in members], "builtin_admin": builtin},
    )


def _smb1(f: Findings, cid: str, title: str, data: Mapping[str, Any], *_: Any) -> None:
    smb1 = _mapping(data, "smb1") or {}
    server = smb1.get("server")
    start = _int(smb1.get("client_start"), "smb1.client_start")
    on = []
    if server is True:
        on.append("server")
    if start is not None and start != 4:  # 4: SERVICE_DISABLED
        on.append("client")
    if server is None:
        f.error(cid, title, "no SMB server configuration (Get-SmbServerConfiguration)")
        return
    f.check(
        cid,
        title,
        not on,
        "SMB1 server off, mrxsmb10 absent or disabled",
        f"SMB1 on: {', '.join(on)}" if on else "off",
        {"server_smb1": server, "client_start": start},
    )


def _rdp(f: Findings, cid: str, title: str, data: Mapping[str, Any], *_: Any) -> None:
    rdp = _mapping(data, "rdp") or {}
    deny = _int(rdp.get("deny"), "rdp.deny")
    nla = _int(rdp.get("nla"), "rdp.nla")
    if deny == 1:
        f.check(cid, title, True, "off, or NLA required", "Remote Desktop off", dict(rdp))
        return
    f.check(
        cid,
        title,
        nla == 1,
        "off, or NLA required",
        "on, NLA required" if nla == 1 else "on without Network Level Authentication",
        dict(rdp),
    )


def _screen_lock(
    f: Findings, cid: str, title: str, data: Mapping[str, Any], params: Mapping[str, Any], *_: Any
) -> None:
    limit = int(params["max_seconds"])
    seconds = _int(data.get("inactivity_timeout"), "inactivity_timeout")
    ok = seconds is not None and 0 < seconds <= limit
    f.check(
        cid,
        title,
        ok,
        f"machine inactivity limit <= {limit} s",
        "not set" if not seconds else f"{seconds} s",
        {"inactivity_timeout": seconds},
    )


def _password_policy(
    f: Findings, cid: str, title: str, data: Mapping[str, Any], params: Mapping[str, Any], *_: Any
) -> None:
    policy = _mapping(data, "password_policy")
    if policy is None:
        f.error(cid, title, "secedit /export gave no security policy")
        return
    length = _int(policy.get("MinimumPasswordLength"), "password_policy.MinimumPasswordLength")
    complexity = _int(policy.get("PasswordComplexity"), "password_policy.PasswordComplexity")
    lockout = _int(policy.get("LockoutBadCount"), "password_policy.LockoutBadCount")
    want_length, want_lockout = int(params["min_length"]), int(params["lockout_threshold"])
    problems = []
    if (length or 0) < want_length:
        problems.append(f"minimum length {length or 0}")
    if complexity != 1:
        problems.append("complexity off")
    if not lockout or lockout > want_lockout:
        problems.append("no lockout" if not lockout else f"lockout after {lockout}")
    f.check(
        cid,
        title,
        not problems,
        f"length >= {want_length}, complexity on, lockout after <= {want_lockout}",
        "; ".join(problems) or "as expected",
        dict(policy),
    )


JUDGES: dict[str, Any] = {
    "windows.firewall": _firewall,
    "windows.defender_realtime": _defender,
    "windows.bitlocker_system": _bitlocker,
    "windows.update_service": _update_service,
    "windows.local_admins": _local_admins,
    "windows.smb1_disabled": _smb1,
    "windows.rdp_nla": _rdp,
    "windows.screen_lock": _screen_lock,
    "windows.password_policy": _password_policy,
}
