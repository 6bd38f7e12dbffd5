#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name (plugins/action/win_backup_status.py):
# short PowerShell scripts through ansible.windows.win_powershell, judged in Python on the
# controller. This file holds its documentation only.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: win_backup_status
short_description: Run due backups and restore tests on a Windows host and report backup_agent
description:
  - The Windows counterpart of M(mspctl.policy.restore_test) and
    M(mspctl.policy.backup_status), for restic.exe run by the scheduled task the backup_agent
    role creates (C(restic backup --use-fs-snapshot), a VSS snapshot).
  - A read-only PowerShell probe (through C(ansible.windows.win_powershell)) reads restic's
    version, C(restic snapshots --json --host HOST), the scheduled task, the last run's
    C(status.json) and the last restore test's C(restore-test.json); the findings are made on
    the controller (C(plugins/module_utils/mspctl_winbackup.py)).
  - With O(backup_on_converge), a missing or too old snapshot (or an unreadable repository, a
    new one is initialised) starts the scheduled task and waits for it.
  - When the last restore test is missing, failed or O(restore_test_interval_days) old (or
    O(restore_test_force)), a sample of files of the latest snapshot that are unchanged on disk
    is restored into a scratch folder under O(dir) and compared by SHA-256 with the originals;
    the scratch folder is removed.
  - Controls C(backup_agent.snapshot_age), C(backup_agent.restore_test) (passed, at most twice
    the interval old), C(backup_agent.last_run) and C(backup_agent.timer) (the scheduled task is
    enabled and has a next run), the Linux ids.
  - In check mode nothing runs; what is due is reported as the change.
version_added: "0.2.0"
author: mspctl contributors (@mspctl)
options:
  host:
    description: The host name the snapshots are taken under (C(restic backup --host)).
    type: str
    required: true
  repository:
    description:
      - The restic repository, for the evidence only (the host reads it from C(config.json)).
    type: str
    required: true
  dir:
    description: The folder of restic.exe, C(config.json), C(status.json) and C(restore-test.json).
    type: str
    default: C:\ProgramData\mspctl\backup
  task_path:
    description: The scheduled task's folder.
    type: str
    default: \mspctl\
  task_name:
    description: The scheduled task's name.
    type: str
    default: mspctl-backup
  max_age_hours:
    description: The latest snapshot must be at most this old.
    type: int
    required: true
  restore_test_interval_days:
    description: A restore test runs when the last one is this old; one twice as old fails.
    type: int
    required: true
  sample_size:
    description: Files restored and compared by a restore test.
    type: int
    default: 10
  max_file_bytes:
    description: Larger files are never sampled.
    type: int
    default: 67108864
  restore_test_force:
    description: Run a restore test even when none is due.
    type: bool
    default: false
  backup_on_converge:
    description: Run the backup task now when the latest snapshot is missing or too old.
    type: bool
    default: true
  backup_wait_minutes:
    description: How long to wait for that backup run.
    type: int
    default: 240
attributes:
  check_mode:
    description:
      - Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: In check mode nothing runs; a due backup or restore test is the reported change.
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in check_mode),
        when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: windows
extends_documentation_fragment:
  - mspctl.policy.attributes.windows_action
"""

EXAMPLES = r"""
- name: Report the backup policy status (Windows)
  mspctl.policy.win_backup_status:
    host: "{{ inventory_hostname }}"
    repository: rest:https://backup.example.net:8000/acme/fileserver
    max_age_hours: 26
    restore_test_interval_days: 7
"""

RETURN = r"""
due:
  description: What was due at this run (C(backup), C(restore_test)).
  returned: success
  type: list
  elements: str
ran:
  description: What ran (never in check mode).
  returned: success
  type: list
  elements: str
status:
  description:
    - The backup state, as M(mspctl.policy.backup_status) returns it.
    - C(timer) is the scheduled task.
  returned: success
  type: dict
  sample:
    last_snapshot: {id: 4f2a9c1e, time: "2026-11-30T01:07:12.5531872+01:00"}
    age_hours: 10.9
    restore_test: {result: pass, at: "2026-11-24T09:12:03.0000000Z", age_days: 6.1}
findings:
  description: Findings in mspctl's schema (C(plugins/module_utils/mspctl_findings.py)).
  returned: success
  type: list
  elements: dict
  sample:
    - policy: backup_agent
      control_id: backup_agent.snapshot_age
      title: The latest snapshot is recent enough
      status: pass
      expected: <= 26 h
      actual: 10.9 h
"""
