# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup_agent policy on a Windows host (restic.exe, a scheduled task), judged on the
controller.

On the host: ``restic.exe`` (the MSP's own copy, checksum verified), ``config.json``, the
repository password and ``mspctl-backup.ps1`` in ``C:\\ProgramData\\mspctl\\backup`` (SYSTEM and
Administrators only), run by the scheduled task ``\\mspctl\\mspctl-backup`` as SYSTEM:
``restic backup --use-fs-snapshot`` (a VSS snapshot, so open files are read consistently), then
``restic forget --prune`` with the tier's retention; it writes ``status.json`` (the last run).

Run by ``mspctl.policy.win_backup_status`` through ``win_powershell``:

``PROBE``         read-only: restic's version, ``restic snapshots --json --host H`` (restic's
                  documented JSON, parsed here), the scheduled task's state and last result,
                  ``status.json`` and ``restore-test.json``
``BACKUP_NOW``    starts the scheduled task and waits for it (a converge with no recent
                  snapshot, as the Linux role runs its service)
``RESTORE_TEST``  restores a random sample of files of the latest snapshot that are unchanged
                  on disk into a scratch folder, hashes original and restored copy (SHA-256),
                  removes the scratch folder and writes the raw facts to ``restore-test.json``

What passes is decided here, never on the host: ``backup_agent.snapshot_age`` (the latest
snapshot against the tier's ``max_age_hours``), ``backup_agent.restore_test`` (the last test
passed, with every sampled checksum equal, and is at most twice the tier's interval old),
``backup_agent.last_run`` and ``backup_agent.timer`` (the scheduled task is enabled and has a
next run): the Linux ids. The recorded outputs are documented field by field in
``tests/fixtures/windows/README.md``.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import Findings
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_restic import (
    classify,
    tail,
)
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    parse_date,
)

POLICY = "backup_agent"
MAX_MISMATCHES = 20
# Task Scheduler's "has not yet run" (SCHED_S_TASK_HAS_NOT_RUN, 0x41303)
TASK_HAS_NOT_RUN = 0x41303
# restic backup exit code 3: the snapshot was made, some files could not be read
BACKUP_INCOMPLETE = 3

# restic.exe run with the repository, password file and cache from config.json in the
# environment (never on a command line); stdout and stderr kept apart (PowerShell 5.1 turns a
# native program's stderr into error records)
RESTIC = r"""
function Use-Config([string]$Path) {
    $c = Get-Content -Raw -LiteralPath $Path | ConvertFrom-Json
    $env:RESTIC_REPOSITORY = $c.repository
    $env:RESTIC_PASSWORD_FILE = $c.password_file
    $env:RESTIC_CACHE_DIR = $c.cache_dir
    $c
}
function Invoke-Restic([string]$Exe, [string[]]$Arguments) {
    $psi = New-Object System.Diagnostics.ProcessStartInfo $Exe
    $psi.Arguments = ($Arguments | ForEach-Object {
        '"' + (($_ -replace '(\\*)"', '$1$1\"') -replace '(\\+)$', '$1$1') + '"' }) -join ' '
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.StandardOutputEncoding = [System.Text.Encoding]::UTF8
    $p = [System.Diagnostics.Process]::Start($psi)
    $err = $p.StandardError.ReadToEndAsync()
    $out = $p.StandardOutput.ReadToEnd()
    $p.WaitForExit()
    [pscustomobject]@{ rc = $p.ExitCode; stdout = $out; stderr = $err.Result }
}
# Task Scheduler's "never" is 1999-11-30: no date before 2000 is one
function Iso($d) { if ($d -and $d.Year -ge 2000) { $d.ToUniversalTime().ToString('o') } }
"""

PROBE = (
    r"""
[CmdletBinding(SupportsShouldProcess)]
param ([string]$Dir, [string]$TaskPath, [string]$TaskName, [string]$HostName)
$ErrorActionPreference = 'Stop'
$Ansible.Changed = $false
"""
    + RESTIC
    + r"""
function Read-Json([string]$Path) {
    if (Test-Path -LiteralPath $Path) { Get-Content -Raw -LiteralPath $Path | ConvertFrom-Json }
}
$exe = Join-Path $Dir 'restic.exe'
$configFile = Join-Path $Dir 'config.json'
$restic = $null; $snapshots = $null
if (Test-Path -LiteralPath $exe) {
    $restic = [ordered]@{ version = (Invoke-Restic $exe @('version')).stdout.Trim() }
    if (Test-Path -LiteralPath $configFile) {
        $null = Use-Config $configFile
        $r = Invoke-Restic $exe @('snapshots', '--json', '--no-lock', '--host', $HostName)
        $snapshots = [ordered]@{ rc = $r.rc; stdout = $r.stdout; stderr = $r.stderr }
    }
}
$task = Get-ScheduledTask -TaskPath $TaskPath -TaskName $TaskName -ErrorAction SilentlyContinue
$info = if ($task) { $task | Get-ScheduledTaskInfo }
[ordered]@{
    restic = $restic
    config = Test-Path -LiteralPath $configFile
    snapshots = $snapshots
    task = if ($task) { [ordered]@{ state = [string]$task.State
        enabled = [bool]$task.Settings.Enabled
        last_run = Iso $info.LastRunTime; last_result = [int64]$info.LastTaskResult
        next_run = Iso $info.NextRunTime } }
    last_run = Read-Json (Join-Path $Dir 'status.json')
    restore_test = Read-Json (Join-Path $Dir 'restore-test.json')
} | ConvertTo-Json -Depth 6 -Compress
"""
)

BACKUP_NOW = r"""
param ([string]$TaskPath, [string]$TaskName, [int]$WaitMinutes)
$ErrorActionPreference = 'Stop'
Start-ScheduledTask -TaskPath $TaskPath -TaskName $TaskName
$deadline = (Get-Date).AddMinutes($WaitMinutes)
do {
    Start-Sleep -Seconds 5
    $state = [string](Get-ScheduledTask -TaskPath $TaskPath -TaskName $TaskName).State
} while ($state -eq 'Running' -and (Get-Date) -lt $deadline)
if ($state -eq 'Running') { throw "the backup task still runs after $WaitMinutes minutes" }
"""

RESTORE_TEST = (
    r"""
param ([string]$Dir, [string]$HostName, [int]$SampleSize, [int64]$MaxFileBytes)
$ErrorActionPreference = 'Stop'
"""
    + RESTIC
    + r"""
function Local-Path([string]$p) { ($p -replace '^/([A-Za-z])/', '$1:/') -replace '/', '\' }
function Unchanged($node, [string]$local) {
    $item = Get-Item -LiteralPath $local -Force -ErrorAction SilentlyContinue
    $ticks = ([DateTimeOffset]::Parse($node.mtime)).UtcTicks
    $item -and $item.Length -eq $node.size -and $item.LastWriteTimeUtc.Ticks -eq $ticks
}
function Fail($r) { $record.restic = [ordered]@{ rc = $r.rc; stderr = $r.stderr }; throw 'restic' }
function Sha256([string]$Path) {
    (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant()
}
$exe = Join-Path $Dir 'restic.exe'
$record = [ordered]@{ at = Iso (Get-Date); finished = $null; host = $HostName; snapshot = $null
    step = $null; restic = $null; candidates = 0; changed_since_snapshot = 0; sample = @()
    scratch_removed = $true; error = $null }
$scratch = $null
try {
    $null = Use-Config (Join-Path $Dir 'config.json')
    $record.step = 'snapshots'
    $r = Invoke-Restic $exe @('snapshots', '--json', '--no-lock', '--host', $HostName,
        '--latest', '1')
    if ($r.rc -ne 0) { Fail $r }
    $snap = @($r.stdout | ConvertFrom-Json) | Select-Object -Last 1
    if ($snap) {
        $record.snapshot = [ordered]@{ id = $snap.id; short_id = $snap.short_id; time = $snap.time }
        $record.step = 'ls'
        $r = Invoke-Restic $exe @('ls', '--json', '--no-lock', $snap.id)
        if ($r.rc -ne 0) { Fail $r }
        $files = foreach ($line in $r.stdout -split "`n") {
            if ($line -notmatch '"type":"file"') { continue }
            $node = $line | ConvertFrom-Json
            if ($node.size -gt 0 -and $node.size -le $MaxFileBytes -and
                $node.path -notmatch '[*?\[\]\\]') { $node }
        }
        $record.candidates = @($files).Count
        $sample = @()
        # random order; a file changed on disk since the snapshot is no evidence either way
        foreach ($node in @($files | Sort-Object { Get-Random })) {
            if ($sample.Count -ge $SampleSize) { break }
            if (Unchanged $node (Local-Path $node.path)) { $sample += $node }
            else { $record.changed_since_snapshot++ }
        }
        if ($sample.Count -gt 0) {
            $name = 'restore-' + [guid]::NewGuid().ToString('N').Substring(0, 12)
            $scratch = Join-Path $Dir $name
            $null = New-Item -ItemType Directory -Path $scratch
            $record.step = 'restore'
            $restore = @('restore', '--no-lock', $snap.id, '--target', $scratch)
            foreach ($node in $sample) { $restore += @('--include', $node.path) }
            $r = Invoke-Restic $exe $restore
            $record.restic = if ($r.rc -ne 0) { [ordered]@{ rc = $r.rc; stderr = $r.stderr } }
            $record.sample = @(foreach ($node in $sample) {
                $local = Local-Path $node.path
                $restored = Join-Path $scratch ($local -replace '^([A-Za-z]):', '$1')
                $expected = Sha256 $local
                [ordered]@{ path = $node.path; size = [int64]$node.size
                    expected_sha256 = $expected
                    actual_sha256 = if (Test-Path -LiteralPath $restored) { Sha256 $restored }
                    changed_during = -not (Unchanged $node $local) }
            })
        }
    }
    if (-not $record.restic) { $record.step = $null }
} catch {
    if (-not $record.restic) { $record.error = $_.Exception.Message }
} finally {
    if ($scratch) {
        Remove-Item -LiteralPath $scratch -Recurse -Force -ErrorAction SilentlyContinue
        $record.scratch_removed = -not (Test-Path -LiteralPath $scratch)
    }
    $record.finished = Iso (Get-Date)
    $record | ConvertTo-Json -Depth 5 -Compress |
        Set-Content -LiteralPath (Join-Path $Dir 'restore-test.json') -Encoding UTF8
}
"""
)


# -- reading the probe ----------------------------------------------------------------------
def _mapping(value: Any, field: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ProbeError(f"{field}: not an object: {value!r}")
    return value


def _int(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProbeError(f"{field}: not an integer: {value!r}")
    return value


def _objects(value: Any, field: str) -> list[Mapping[str, Any]]:
    """A list of objects; ConvertTo-Json writes a one-element array as its element."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ProbeError(f"{field}: not a list of objects: {value!r}")
    return value


def parse_snapshots(text: Any) -> list[dict[str, Any]]:
    """``restic snapshots --json``: one JSON array of snapshot objects (``time``, ``id``,
    ``short_id``, ``hostname``, ``paths``, ``tags``, and since restic 0.17 ``summary``), sorted
    by time (restic prints them oldest first); ProbeError naming the field that is wrong."""
    if not isinstance(text, str):
        raise ProbeError(f"snapshots.stdout: not text: {text!r}")
    try:
        data = json.loads(text or "[]")
    except ValueError as exc:
        raise ProbeError(f"snapshots.stdout: not restic's JSON: {exc}") from None
    if not isinstance(data, list):
        raise ProbeError("snapshots.stdout: not a JSON array")
    snaps = []
    for i, snap in enumerate(data):
        if not isinstance(snap, Mapping) or not isinstance(snap.get("id"), str):
            raise ProbeError(f"snapshots.stdout[{i}]: not a snapshot with an id")
        when = parse_date(snap.get("time"), f"snapshots.stdout[{i}].time")
        if when is None:
            raise ProbeError(f"snapshots.stdout[{i}].time: missing")
        snaps.append({**snap, "_time": when})
    return sorted(snaps, key=lambda s: s["_time"])


def parse_probe(data: Any) -> dict[str, Any]:
    """The probe's JSON checked field by field."""
    if not isinstance(data, Mapping):
        raise ProbeError("the probe did not return a JSON object")
    restic = _mapping(data.get("restic"), "restic")
    snapshots = _mapping(data.get("snapshots"), "snapshots")
    task = _mapping(data.get("task"), "task")
    parsed: dict[str, Any] = {
        "restic": None if restic is None else {"version": str(restic.get("version") or "")},
        "config": data.get("config") is True,
        "snapshots": None,
        "task": None,
        "last_run": _mapping(data.get("last_run"), "last_run"),
        "restore_test": _mapping(data.get("restore_test"), "restore_test"),
    }
    if snapshots is not None:
        rc = _int(snapshots.get("rc"), "snapshots.rc")
        parsed["snapshots"] = {
            "rc": rc,
            "stderr": str(snapshots.get("stderr") or ""),
            "list": parse_snapshots(snapshots.get("stdout")) if rc == 0 else None,
        }
    if task is not None:
        parsed["task"] = {
            "state": str(task.get("state") or ""),
            "enabled": task.get("enabled") is True,
            "last_run": task.get("last_run"),
            "last_result": _int(task.get("last_result"), "task.last_result"),
            "next_run": task.get("next_run"),
        }
        parse_date(task.get("last_run"), "task.last_run")
        parse_date(task.get("next_run"), "task.next_run")
    return parsed


# -- the restore test's record --------------------------------------------------------------
def restore_record(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The Linux restore test's record (``mspctl_restic.restore_test``) from the raw facts the
    Windows script wrote: ``result`` is ``pass`` only when restic succeeded and every sampled
    file that did not change during the test restored with the original's SHA-256."""
    if raw is None:
        return None
    snapshot = _mapping(raw.get("snapshot"), "restore_test.snapshot") or {}
    failure = _mapping(raw.get("restic"), "restore_test.restic")
    record: dict[str, Any] = {
        "result": "fail",
        "at": raw.get("at"),
        "host": raw.get("host"),
        "snapshot": snapshot.get("short_id") or (str(snapshot.get("id") or "")[:8] or None),
        "snapshot_time": snapshot.get("time"),
        "files": 0,
        "bytes": 0,
        "checksums_match": False,
        "mismatches": [],
        "sample": [],
        "changed_since_snapshot": _int(
            raw.get("changed_since_snapshot"), "restore_test.changed_since_snapshot"
        )
        or 0,
        "error": None,
        "scratch_removed": raw.get("scratch_removed") is not False,
    }
    sample = _objects(raw.get("sample"), "restore_test.sample")
    record["sample"] = [str(s.get("path")) for s in sample]
    mismatches: list[dict[str, Any]] = []
    compared = total = 0
    for i, item in enumerate(sample):
        if item.get("changed_during") is True:  # edited while we read it: no evidence
            record["changed_since_snapshot"] += 1
            continue
        expected, actual = item.get("expected_sha256"), item.get("actual_sha256")
        if actual is None:
            mismatches.append({"path": item.get("path"), "reason": "not restored"})
            continue
        if not isinstance(expected, str) or not isinstance(actual, str):
            raise ProbeError(f"restore_test.sample[{i}]: checksums are not text")
        compared += 1
        total += _int(item.get("size"), f"restore_test.sample[{i}].size") or 0
        if actual.lower() != expected.lower():
            mismatches.append(
                {
                    "path": item.get("path"),
                    "reason": "content differs",
                    "expected_sha256": expected.lower(),
                    "actual_sha256": actual.lower(),
                }
            )
    record.update(files=compared, bytes=total, mismatches=mismatches[:MAX_MISMATCHES])
    record["checksums_match"] = compared > 0 and not mismatches
    if failure is not None:
        rc = _int(failure.get("rc"), "restore_test.restic.rc")
        stderr = str(failure.get("stderr") or "")
        record.update(
            error=f"restic {raw.get('step') or ''} failed".replace("  ", " "),
            kind=classify(stderr, rc),
            rc=rc,
            stderr=tail(stderr),
        )
    elif raw.get("error"):
        record["error"] = str(raw["error"])
    elif not snapshot:
        record["error"] = f"no snapshot of host {raw.get('host')} in the repository"
    elif not sample:
        record["error"] = (
            f"no file of snapshot {record['snapshot']} is unchanged on disk: nothing to compare"
        )
    elif compared == 0 and not mismatches:
        record["error"] = "every sampled file changed during the test: nothing compared"
    if record["checksums_match"] and record["error"] is None:
        record["result"] = "pass"
    return record


def restore_due(
    record: Mapping[str, Any] | None, interval_days: float, now: datetime.datetime
) -> bool:
    """As on Linux: none recorded, the last did not pass, or it is ``interval_days`` old."""
    if not record or record.get("result") != "pass":
        return True
    try:
        at = parse_date(record.get("at"), "restore_test.at")
    except ProbeError:
        return True
    return at is None or (now - at).total_seconds() >= interval_days * 86400


def latest(probe: Mapping[str, Any]) -> dict[str, Any] | None:
    snaps = (probe.get("snapshots") or {}).get("list") or []
    return snaps[-1] if snaps else None


def backup_due(probe: Mapping[str, Any], max_age_hours: float, now: datetime.datetime) -> bool:
    """As on Linux, a converge runs the backup when the latest snapshot of the host is missing
    or older than the tier allows, or the repository cannot be read (a new one is initialised
    by the run); not when restic or its configuration is not on the host yet (check mode)."""
    snapshots = probe.get("snapshots")
    if not snapshots:
        return False
    if snapshots.get("rc") != 0:
        return True
    snap = latest(probe)
    return snap is None or (now - snap["_time"]).total_seconds() > max_age_hours * 3600


# -- the controls -----------------------------------------------------------------------------
def evaluate(
    probe: Mapping[str, Any] | ProbeError,
    host: str,
    repository: str,
    max_age_hours: float,
    interval_days: float,
    now: datetime.datetime,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The backup_agent findings and status of a Windows host (a failed probe: every
    control an error naming why)."""
    findings = Findings(POLICY)
    status: dict[str, Any] = {
        "repository": repository,
        "host": host,
        "last_snapshot": None,
        "snapshots": None,
        "age_hours": None,
        "max_age_hours": max_age_hours,
        "restore_test": None,
        "last_run": None,
        "timer": None,
    }
    titles = {
        "backup_agent.snapshot_age": "The latest snapshot is recent enough",
        "backup_agent.restore_test": "The last restore test passed and is recent enough",
        "backup_agent.last_run": "The last scheduled backup run succeeded",
        "backup_agent.timer": "The backup scheduled task is enabled and scheduled",
    }
    if isinstance(probe, ProbeError):
        for control, title in titles.items():
            findings.error(control, title, f"backup probe: {probe}")
        return findings.as_list(), status
    _snapshot_age(findings, status, probe, host, max_age_hours, now, titles)
    _restore_test(findings, status, probe, interval_days, now, titles)
    _last_run(findings, status, probe, titles)
    _timer(findings, status, probe, titles)
    return findings.as_list(), status


def _snapshot_age(
    findings: Findings,
    status: dict[str, Any],
    probe: Mapping[str, Any],
    host: str,
    max_age_hours: float,
    now: datetime.datetime,
    titles: Mapping[str, str],
) -> None:
    control = "backup_agent.snapshot_age"
    expected = f"<= {max_age_hours} h"
    evidence: dict[str, Any] = {"repository": status["repository"]}
    snapshots = probe.get("snapshots")
    if probe.get("restic") is None:
        findings.error(control, titles[control], "restic is not installed", evidence=evidence)
        return
    if snapshots is None:
        findings.error(control, titles[control], "no backup configuration", evidence=evidence)
        return
    if snapshots["rc"] != 0:
        kind = classify(snapshots["stderr"], snapshots["rc"])
        evidence.update(kind=kind, rc=snapshots["rc"], stderr=tail(snapshots["stderr"]))
        findings.check(
            control, titles[control], False, expected, f"repository unreadable ({kind})", evidence
        )
        return
    status["snapshots"] = len(snapshots["list"])
    snap = latest(probe)
    if snap is None:
        findings.check(
            control, titles[control], False, expected, f"no snapshot of {host}", evidence
        )
        return
    age = round((now - snap["_time"]).total_seconds() / 3600, 2)
    status["last_snapshot"] = {
        "id": snap.get("short_id") or snap["id"][:8],
        "time": snap.get("time"),
        "paths": snap.get("paths"),
        "summary": snap.get("summary"),
    }
    status["age_hours"] = age
    evidence.update(
        snapshot=status["last_snapshot"]["id"], time=snap.get("time"), snapshots=status["snapshots"]
    )
    findings.check(
        control, titles[control], age <= max_age_hours, expected, f"{age:.1f} h", evidence
    )


def _restore_test(
    findings: Findings,
    status: dict[str, Any],
    probe: Mapping[str, Any],
    interval_days: float,
    now: datetime.datetime,
    titles: Mapping[str, str],
) -> None:
    control = "backup_agent.restore_test"
    limit = 2 * interval_days
    expected = f"pass, at most {limit} days old"
    record = restore_record(probe.get("restore_test"))
    if not record:
        findings.check(control, titles[control], False, expected, "no restore test recorded", {})
        return
    evidence: dict[str, Any] = {
        key: record.get(key)
        for key in (
            "snapshot",
            "snapshot_time",
            "files",
            "bytes",
            "checksums_match",
            "mismatches",
            "changed_since_snapshot",
            "error",
            "kind",
            "stderr",
            "scratch_removed",
        )
        if key in record
    }
    try:
        at = parse_date(record.get("at"), "restore_test.at")
    except ProbeError:
        at = None
    age_days = round((now - at).total_seconds() / 86400, 2) if at else None
    status["restore_test"] = {
        "result": record["result"],
        "at": record.get("at"),
        "age_days": age_days,
        "evidence": evidence,
    }
    ok = record["result"] == "pass" and age_days is not None and age_days <= limit
    actual = f"{record['result']} {age_days} days ago"
    findings.check(control, titles[control], ok, expected, actual, evidence)


def _last_run(
    findings: Findings,
    status: dict[str, Any],
    probe: Mapping[str, Any],
    titles: Mapping[str, str],
) -> None:
    control = "backup_agent.last_run"
    run = probe.get("last_run")
    status["last_run"] = dict(run) if run else None
    if not run:
        findings.check(control, titles[control], False, "ok", "never ran", {})
        return
    findings.check(
        control,
        titles[control],
        run.get("result") == "ok",
        "ok",
        "{} at {}".format(run.get("result"), run.get("at")),
        dict(run),
    )


def _timer(
    findings: Findings,
    status: dict[str, Any],
    probe: Mapping[str, Any],
    titles: Mapping[str, str],
) -> None:
    control = "backup_agent.timer"
    task = probe.get("task")
    expected = "enabled, Ready or Running, scheduled"
    if task is None:
        findings.check(control, titles[control], False, expected, "no scheduled task", {})
        return
    status["timer"] = dict(task)
    ok = task["enabled"] and task["state"] in ("Ready", "Running") and bool(task["next_run"])
    enabled = "enabled" if task["enabled"] else "not enabled"
    actual = f"{enabled}, {task['state'] or 'unknown'}, next {task['next_run'] or 'never'}"
    evidence = dict(task)
    if task["last_result"] not in (None, 0, TASK_HAS_NOT_RUN):
        evidence["last_result_hex"] = f"0x{task['last_result'] & 0xFFFFFFFF:08X}"
    findings.check(control, titles[control], ok, expected, actual, evidence)
