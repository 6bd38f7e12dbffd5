#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: restore_test
short_description: Prove a restic backup restores, by restoring a sample into scratch
description:
  - Restores a random sample of files of the host's latest restic snapshot into a new private
    scratch directory (C(/var/tmp/mspctl-restore-*), mode 0700) with
    C(restic restore --target <scratch> --include <file>... --verify), compares the SHA-256 of
    every restored file with the file on disk, records the result and its evidence, and removes
    the scratch directory. Nothing is ever written outside the scratch directory.
  - Only files unchanged since the snapshot (same size and nanosecond mtime as recorded by
    C(restic ls --json)) are sampled, so a file edited after the backup is not a mismatch.
    restic itself authenticates every blob it reads and C(--verify) checks the restored files
    against the snapshot's own content hashes, so a tampered repository or a wrong password makes
    the test C(fail), with the evidence.
  - Runs only when a test is due (none recorded, the last one did not pass, or it is older than
    O(interval_days)) or when O(force=true); a run is a change (the result file is rewritten).
  - The record goes to O(result_file) (root only) and its summary to O(status_file), which
    monitoring reads without the repository password.
  - A failing restore test is not a module failure, it is the result (C(restore_test.result) is
    C(fail)); mspctl.policy.backup_status turns it into a failing finding.
version_added: "0.1.0"
author: mspctl contributors (@mspctl)
options:
  sample_size:
    description: Number of files restored and compared.
    type: int
    default: 10
  interval_days:
    description: A passing test younger than this is not repeated.
    type: int
    default: 7
  force:
    description: Run the test even when it is not due.
    type: bool
    default: false
  result_file:
    description: Where the record of the last test is kept (JSON, mode 0600).
    type: path
    default: /var/lib/mspctl/backup/restore-test.json
  status_file:
    description: World-readable status whose C(restore_test) summary is updated (JSON).
    type: path
    default: /var/lib/mspctl/backup/status.json
  scratch_parent:
    description: Directory under which the scratch directory is created.
    type: path
    default: /var/tmp
  max_file_bytes:
    description: Larger files are never sampled, so a test stays quick.
    type: int
    default: 16777216
  lock_file:
    description: Lock shared with C(mspctl-backup.service), so a test never races a backup.
    type: path
    default: /run/lock/mspctl-backup.lock
attributes:
  check_mode:
    details: In check mode nothing is restored; the module says whether a test is due.
seealso:
  - module: mspctl.policy.backup_status
extends_documentation_fragment:
  - mspctl.policy.restic
  - mspctl.policy.attributes
"""

EXAMPLES = r"""
- name: Run the restore test when it is due
  mspctl.policy.restore_test:
    repository: "sftp:restic@backup01:/srv/restic/acme/web01"
    password: "{{ backup_agent_password }}"
    host: web01
    interval_days: 7
    sample_size: 10
  register: restore

- name: Force one now, into a separate record (does not touch the real one)
  mspctl.policy.restore_test:
    repository: "sftp:restic@backup01:/srv/restic/acme/web01"
    password: "{{ backup_agent_password }}"
    host: web01
    force: true
    result_file: /var/tmp/restore-test-drill.json
    status_file: /var/tmp/status-drill.json
"""

RETURN = r"""
due:
  description: Whether a test was due before this run.
  returned: always
  type: bool
  sample: true
ran:
  description: Whether a test ran (false in check mode).
  returned: always
  type: bool
  sample: true
restore_test:
  description:
    - The record of the test that ran, else the last recorded one (null when there is none).
    - C(result) is C(pass) only when the restore succeeded and every sampled file matched.
  returned: always
  type: dict
  sample:
    result: pass
    at: "2026-03-01T01:02:03Z"
    host: web01
    snapshot: 4f2a9c1e
    snapshot_id: 4f2a9c1e5d...
    snapshot_time: "2026-03-01T01:00:12.123456789Z"
    files: 10
    bytes: 48213
    checksums_match: true
    mismatches: []
    sample: [/etc/hostname, /etc/hosts]
    changed_since_snapshot: 3
    error: null
    scratch_removed: true
    duration_seconds: 2.4
"""

import os
import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_common import (
    read_json,
)
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_restic import (
    SCRATCH_PARENT,
    Lock,
    due,
    module_restic,
    record_restore_test,
    restic_argument_spec,
    restore_summary,
    restore_test,
)

if TYPE_CHECKING:
    from collections.abc import Mapping


def decide(
    last: Mapping[str, Any] | None, interval_days: float, force: bool, now: float
) -> tuple[bool, bool]:
    """(due, run): whether a test is due, and whether one runs (a forced one always does)."""
    is_due = due(last, interval_days, now)
    return is_due, bool(force or is_due)


def diff_of(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "before_header": "restore test",
        "after_header": "restore test",
        "before": restore_summary(before) or {},
        "after": restore_summary(after) or {},
    }


def run_module(module: AnsibleModule, now: float) -> dict[str, Any]:
    params = module.params
    last = read_json(params["result_file"])
    is_due, run = decide(last, params["interval_days"], params["force"], now)
    if not run:
        return dict(changed=False, due=False, ran=False, restore_test=last)
    if module.check_mode:
        result = dict(
            changed=True, due=is_due, ran=False, restore_test=last, msg="a restore test would run"
        )
        if module._diff:
            result["diff"] = diff_of(last, {"result": "(would run)", "at": None})
        return result
    restic_bin = module.get_bin_path("restic", required=True)
    restic = module_restic(module, restic_bin)
    with Lock(params["lock_file"]):
        record = restore_test(
            restic,
            params["host"],
            params["sample_size"],
            now=now,
            scratch_parent=params["scratch_parent"],
            max_file_bytes=params["max_file_bytes"],
        )
        record_restore_test(record, params["result_file"], params["status_file"])
    result = dict(changed=True, due=is_due, ran=True, restore_test=record)
    if module._diff:
        result["diff"] = diff_of(last, record)
    return result


def argument_spec() -> dict[str, Any]:
    return dict(
        restic_argument_spec(),
        sample_size=dict(type="int", default=10),
        interval_days=dict(type="int", default=7),
        force=dict(type="bool", default=False),
        result_file=dict(type="path", default="/var/lib/mspctl/backup/restore-test.json"),
        status_file=dict(type="path", default="/var/lib/mspctl/backup/status.json"),
        scratch_parent=dict(type="path", default=SCRATCH_PARENT),
        max_file_bytes=dict(type="int", default=16777216),
        lock_file=dict(type="path", default="/run/lock/mspctl-backup.lock"),
    )


def main() -> None:

    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if module.params["sample_size"] < 1:
        module.fail_json(msg="sample_size must be at least 1")
    if not os.path.isdir(module.params["scratch_parent"]):
        module.fail_json(msg=f"scratch_parent {module.params['scratch_parent']} is not a directory")
    module.exit_json(**run_module(module, time.time()))


if __name__ == "__main__":
    main()
