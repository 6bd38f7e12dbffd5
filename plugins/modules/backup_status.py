#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_status
short_description: Report a host's backup policy as mspctl findings
description:
  - Evaluates the backup_agent policy of a host and returns its findings in mspctl's finding
    schema, plus a C(status) dict of the figures.
  - C(backup_agent.snapshot_age) reads the repository (C(restic snapshots --no-lock)) and fails
    when the host's latest snapshot is missing or older than O(max_age_hours), or when the
    repository cannot be read (unreachable, wrong password, damaged).
  - C(backup_agent.restore_test) reads the last restore test record and fails when there is
    none, when it did not pass, or when it is older than twice O(restore_test_interval_days).
  - C(backup_agent.last_run) reads the status the backup service writes and fails when its last
    run failed or never happened.
  - C(backup_agent.timer) fails unless O(timer) is enabled, active and has a next trigger.
  - Read-only (restic runs without taking a repository lock); never reports a change.
version_added: "0.1.0"
author: mspctl contributors (@mspctl)
options:
  max_age_hours:
    description: The latest snapshot must be at most this old.
    type: int
    required: true
  restore_test_interval_days:
    description: Restore tests run this often; one older than twice the interval fails.
    type: int
    required: true
  result_file:
    description: Record of the last restore test, as mspctl.policy.restore_test writes it.
    type: path
    default: /var/lib/mspctl/backup/restore-test.json
  status_file:
    description: Status written by the backup service (last run, last snapshot).
    type: path
    default: /var/lib/mspctl/backup/status.json
  timer:
    description: systemd timer that schedules the backups; empty to skip the timer control.
    type: str
    default: mspctl-backup.timer
seealso:
  - module: mspctl.policy.restore_test
extends_documentation_fragment:
  - mspctl.policy.restic
  - mspctl.policy.attributes.read_only
"""

EXAMPLES = r"""
- name: Report the backup policy status
  mspctl.policy.backup_status:
    repository: "sftp:restic@backup01:/srv/restic/acme/web01"
    password: "{{ backup_agent_password }}"
    host: web01
    max_age_hours: 26
    restore_test_interval_days: 7
  register: backup_report
"""

RETURN = r"""
findings:
  description: One finding per control, in the schema of module_utils/mspctl_findings.py.
  returned: always
  type: list
  elements: dict
  sample:
    - policy: backup_agent
      control_id: backup_agent.snapshot_age
      title: The latest snapshot is recent enough
      status: pass
      expected: "<= 26 h"
      actual: "3.2 h"
      evidence: {snapshot: 4f2a9c1e, time: "2026-03-01T01:00:12Z", snapshots: 14}
    - policy: backup_agent
      control_id: backup_agent.restore_test
      title: The last restore test passed and is recent enough
      status: fail
      expected: "pass, at most 14 days old"
      actual: "fail 0.1 days ago"
      evidence: {snapshot: 4f2a9c1e, files: 10, bytes: 48213, checksums_match: false,
                 mismatches: [{path: /etc/hosts, reason: content differs}]}
status:
  description: The policy's figures.
  returned: always
  type: dict
  sample:
    repository: "sftp:restic@backup01:/srv/restic/acme/web01"
    host: web01
    last_snapshot: {id: 4f2a9c1e, time: "2026-03-01T01:00:12.123456789Z"}
    snapshots: 14
    age_hours: 3.2
    max_age_hours: 26
    restore_test: {result: pass, at: "2026-03-01T01:02:03Z", age_days: 0.1,
                   evidence: {snapshot: 4f2a9c1e, files: 10, bytes: 48213,
                              checksums_match: true, mismatches: []}}
    last_run: {at: "2026-03-01T01:00:00Z", result: ok, snapshot: 4f2a9c1e}
    timer: {enabled: true, active: true, next: "Sun 2026-03-02 01:00:00 CET", last: "..."}
"""

import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_common import (
    read_json,
)
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import Findings
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_restic import (
    Restic,
    ResticError,
    epoch,
    hours_between,
    module_restic,
    restic_argument_spec,
    snapshot_record,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

POLICY = "backup_agent"
EVIDENCE_KEYS = (
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


def snapshot_age(
    findings: Findings,
    status: dict[str, Any],
    restic: Restic | None,
    host: str,
    max_age_hours: float,
    now: float,
) -> None:
    title = "The latest snapshot is recent enough"
    expected = f"<= {max_age_hours} h"
    evidence: dict[str, Any] = {"repository": status["repository"]}
    if restic is None:
        findings.error(
            "backup_agent.snapshot_age", title, "restic is not installed", evidence=evidence
        )
        return
    try:
        snaps = restic.snapshots(host)
    except ResticError as exc:
        evidence.update(exc.evidence())
        findings.check(
            "backup_agent.snapshot_age",
            title,
            False,
            expected,
            f"repository unreadable ({exc.kind})",
            evidence,
        )
        return
    status["snapshots"] = len(snaps)
    if not snaps:
        findings.check(
            "backup_agent.snapshot_age", title, False, expected, f"no snapshot of {host}", evidence
        )
        return
    latest = snaps[-1]
    age = hours_between(epoch(latest["time"]), now)
    status["last_snapshot"] = snapshot_record(latest)
    status["age_hours"] = age
    evidence.update(
        snapshot=status["last_snapshot"]["id"], time=latest["time"], snapshots=len(snaps)
    )
    findings.check(
        "backup_agent.snapshot_age", title, age <= max_age_hours, expected, f"{age:.1f} h", evidence
    )


def restore_test(
    findings: Findings,
    status: dict[str, Any],
    record: Mapping[str, Any] | None,
    interval_days: float,
    now: float,
) -> None:
    title = "The last restore test passed and is recent enough"
    limit = 2 * interval_days
    expected = f"pass, at most {limit} days old"
    if not record:
        status["restore_test"] = None
        findings.check(
            "backup_agent.restore_test", title, False, expected, "no restore test recorded", {}
        )
        return
    evidence = dict((key, record.get(key)) for key in EVIDENCE_KEYS if key in record)
    age_days: float | None
    try:
        age_days = round((now - epoch(record.get("at") or "")) / 86400.0, 2)
    except ValueError:
        age_days = None
    status["restore_test"] = {
        "result": record.get("result"),
        "at": record.get("at"),
        "age_days": age_days,
        "evidence": evidence,
    }
    ok = record.get("result") == "pass" and age_days is not None and age_days <= limit
    actual = "{} {} days ago".format(record.get("result"), age_days)
    findings.check("backup_agent.restore_test", title, ok, expected, actual, evidence)


def last_run(
    findings: Findings, status: dict[str, Any], service_status: Mapping[str, Any] | None
) -> None:
    title = "The last scheduled backup run succeeded"
    run = (service_status or {}).get("last_run")
    status["last_run"] = run
    if not run:
        findings.check("backup_agent.last_run", title, False, "ok", "never ran", {})
        return
    findings.check(
        "backup_agent.last_run",
        title,
        run.get("result") == "ok",
        "ok",
        "{} at {}".format(run.get("result"), run.get("at")),
        dict(run),
    )


def parse_show(text: str | None) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (text or "").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


def timer(findings: Findings, status: dict[str, Any], module: AnsibleModule, name: str) -> None:
    title = "The backup timer is enabled and scheduled"
    if not name:
        return
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        findings.error("backup_agent.timer", title, "systemctl not found")
        return
    rc, out, err = module.run_command(
        [
            systemctl,
            "show",
            name,
            "--property=UnitFileState,ActiveState,LoadState,"
            "NextElapseUSecRealtime,LastTriggerUSec,TimersCalendar",
        ]
    )
    if rc != 0:
        findings.error("backup_agent.timer", title, err.strip() or "systemctl show failed")
        return
    show = parse_show(out)
    info: dict[str, Any] = {
        "enabled": show.get("UnitFileState") == "enabled",
        "active": show.get("ActiveState") == "active",
        "next": show.get("NextElapseUSecRealtime") or None,
        "last": show.get("LastTriggerUSec") or None,
        "calendar": show.get("TimersCalendar") or None,
    }
    if info["last"] in ("n/a", "0"):
        info["last"] = None
    status["timer"] = info
    ok = info["enabled"] and info["active"] and bool(info["next"])
    enabled = "enabled" if info["enabled"] else "not enabled"
    actual = f"{enabled}, {show.get('ActiveState', 'unknown')}, next {info['next'] or 'never'}"
    findings.check(
        "backup_agent.timer",
        title,
        ok,
        "enabled, active, scheduled",
        actual,
        dict(info, unit=name, load=show.get("LoadState")),
    )


def evaluate(
    module: AnsibleModule, now: float, restic: Restic | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    params = module.params
    findings = Findings(POLICY)
    status: dict[str, Any] = {
        "repository": params["repository"],
        "host": params["host"],
        "last_snapshot": None,
        "snapshots": None,
        "age_hours": None,
        "max_age_hours": params["max_age_hours"],
    }
    snapshot_age(findings, status, restic, params["host"], params["max_age_hours"], now)
    restore_test(
        findings,
        status,
        read_json(params["result_file"]),
        params["restore_test_interval_days"],
        now,
    )
    last_run(findings, status, read_json(params["status_file"]))
    timer(findings, status, module, params["timer"])
    return findings.as_list(), status


def argument_spec() -> dict[str, Any]:
    return dict(
        restic_argument_spec(),
        max_age_hours=dict(type="int", required=True),
        restore_test_interval_days=dict(type="int", required=True),
        result_file=dict(type="path", default="/var/lib/mspctl/backup/restore-test.json"),
        status_file=dict(type="path", default="/var/lib/mspctl/backup/status.json"),
        timer=dict(type="str", default="mspctl-backup.timer"),
    )


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    binary = module.get_bin_path("restic")
    restic: Restic | None = None

    if binary:
        restic = module_restic(module, binary)
    findings, status = evaluate(module, time.time(), restic)
    module.exit_json(changed=False, findings=findings, status=status)


if __name__ == "__main__":
    main()
