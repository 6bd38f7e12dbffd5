# mspctl backup run on Windows (managed by mspctl: changes are overwritten).
# Run as SYSTEM by the scheduled task \mspctl\mspctl-backup: restic backup with a VSS snapshot
# (--use-fs-snapshot), then restic forget --prune with the tier's retention; the result goes to
# status.json, which mspctl.policy.win_backup_status reads and judges on the controller.
# Exit code: 0 backed up, 3 backed up but some files could not be read, 1 failed.
param ([string]$Config = (Join-Path $PSScriptRoot 'config.json'))
$ErrorActionPreference = 'Stop'

# as RESTIC in plugins/module_utils/mspctl_winbackup.py: the repository, password file and
# cache come in the environment, never on a command line
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
function Tail([string]$Text) {
    $t = ($Text -split "`n" | Where-Object { $_.Trim() } | Select-Object -Last 20) -join "`n"
    if ($t.Length -gt 2000) { $t.Substring($t.Length - 2000) } else { $t }
}

$c = Get-Content -Raw -LiteralPath $Config | ConvertFrom-Json
$env:RESTIC_REPOSITORY = $c.repository
$env:RESTIC_PASSWORD_FILE = $c.password_file
$env:RESTIC_CACHE_DIR = $c.cache_dir
$exe = $c.restic
$status = [ordered]@{ at = (Get-Date).ToUniversalTime().ToString('o'); result = 'fail'
    complete = $null; step = $null; rc = $null; stderr = $null; snapshot = $null; summary = $null; error = $null
    forget_rc = $null; duration_seconds = $null }
$started = Get-Date
try {
    $status.step = 'open'
    $r = Invoke-Restic $exe @('cat', 'config')
    if ($r.rc -eq 10) {  # restic 0.17+: the repository does not exist
        $status.step = 'init'
        $r = Invoke-Restic $exe @('init')
    }
    if ($r.rc -ne 0) { $status.rc = $r.rc; $status.stderr = Tail $r.stderr; throw "restic $($status.step) failed" }

    $status.step = 'backup'
    $paths = @($c.paths | Where-Object { Test-Path -LiteralPath $_ })
    if (-not $paths) { throw 'none of the paths to back up exists' }
    $backup = @('backup', '--json', '--use-fs-snapshot', '--host', $c.host, '--tag', 'mspctl')
    foreach ($x in $c.excludes) { $backup += @('--exclude', $x) }
    $r = Invoke-Restic $exe ($backup + $paths)
    $status.rc = $r.rc
    $summary = $r.stdout -split "`n" | Where-Object { $_ -match '"message_type":"summary"' } |
        Select-Object -Last 1
    if ($summary) {
        $status.summary = $summary | ConvertFrom-Json
        $status.snapshot = $status.summary.snapshot_id
    }
    if ($r.rc -ne 0) { $status.stderr = Tail $r.stderr }
    $status.complete = $r.rc -eq 0
    if ($r.rc -ne 0 -and $r.rc -ne 3) { throw 'restic backup failed' }

    $status.step = 'forget'
    $forget = @('forget', '--prune', '--host', $c.host, '--tag', 'mspctl')
    foreach ($period in 'daily', 'weekly', 'monthly') {
        $keep = $c.retention.$period
        if ($keep -gt 0) { $forget += @("--keep-$period", [string]$keep) }
    }
    $f = Invoke-Restic $exe $forget
    $status.forget_rc = $f.rc
    if ($f.rc -ne 0) { $status.stderr = Tail $f.stderr; throw 'restic forget failed' }
    $status.step = $null
    $status.result = if ($r.rc -eq 3) { 'incomplete' } else { 'ok' }
} catch {
    $status.error = $_.Exception.Message
} finally {
    $status.duration_seconds = [math]::Round(((Get-Date) - $started).TotalSeconds, 1)
    $status | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath $c.status_file -Encoding UTF8
}
exit $(if ($status.result -eq 'ok') { 0 } elseif ($status.result -eq 'incomplete') { 3 } else { 1 })
