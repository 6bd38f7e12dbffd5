#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: patch_status
short_description: Report the patching policy's compliance findings and figures
description:
  - Read-only status of the C(patching) policy on a Debian host, the last task of the role.
  - Reads the pending updates with python3-apt (from the package lists as they are; the
    role's C(mspctl.policy.apt_upgrade) refreshes them), the run record and first-seen times the
    apply module keeps in O(state_dir), and the reboot state of the host.
  - Returns C(findings) in mspctl's finding schema and a C(status) dict of figures.
  - Controls are C(patching.window) (the host's class has a patch window),
    C(patching.security_updates) (no security update pending for O(deferral_days) or more;
    with 0, none pending at all), C(patching.other_updates) (the same for the other updates,
    only when O(scope=all)), C(patching.reboot_required) (no reboot pending) and
    C(patching.last_patch_age) (a patch run completed within O(max_age_days)).
  - Held packages are a decision of the inventory, so their pending updates are reported but
    do not fail a control.
version_added: "0.1.0"
author: mspctl contributors (@mspctl)
options:
  scope:
    description: The tier's patching scope; C(all) adds the C(patching.other_updates) control.
    type: str
    choices: [security, all]
    default: security
  deferral_days:
    description: How long an update may stay pending before its control fails.
    type: int
    default: 0
  max_age_days:
    description: Days the last completed patch run may be old (C(patching.last_patch_age)).
    type: int
    default: 35
  reboot_policy:
    description: The tier's reboot policy (C(never), C(if_required), C(always)).
    type: str
    choices: [never, if_required, always]
    default: if_required
  host_class:
    description: The host class whose window applies, empty when none of the host's has one.
    type: str
    default: ""
  window:
    description: The patch window's evaluation (the C(mspctl.policy.patch_window) filter's output).
    type: dict
    default: {}
  reboot_window:
    description: The reboot window's evaluation, empty when there is none.
    type: dict
    default: {}
  now:
    description: Instant the ages are computed at, ISO 8601 with an offset; default now.
    type: str
  state_dir:
    description: Where the apply module keeps its run record.
    type: path
    default: /var/lib/mspctl/patching
attributes:
  platform:
    platforms: debian
requirements:
  - python3-apt on the managed host
extends_documentation_fragment:
  - mspctl.policy.attributes.read_only
"""

EXAMPLES = r"""
- name: Report the patching status
  mspctl.policy.patch_status:
    scope: "{{ patching_scope }}"
    deferral_days: "{{ patching_deferral_days }}"
    reboot_policy: "{{ patching_reboot }}"
    host_class: servers
    window: "{{ patching_window_status }}"
  register: patching_status
"""

RETURN = r"""
findings:
  description: Findings in mspctl's schema (C(plugins/module_utils/mspctl_findings.py)).
  returned: always
  type: list
  elements: dict
  sample:
    - policy: patching
      control_id: patching.security_updates
      title: No security update pending beyond the deferral period
      status: fail
      expected: none pending for 0 days or more
      actual: 3 pending, oldest first seen 2.0 days ago
      evidence: {packages: [libssl3, openssl, tzdata], held: []}
status:
  description: The policy's figures.
  returned: always
  type: dict
  contains:
    host_class:
      description: The host class whose window applies, or null.
      type: str
      sample: servers
    window:
      description: C(open), C(reason), C(next_start), C(next_start_local) of the window, or null.
      type: dict
      sample: {open: false, reason: outside window, next_start_local: "2026-12-05T22:00:00+01:00"}
    reboot_window:
      description: The same for the reboot window, or null.
      type: dict
      sample: {open: false, reason: outside window, next_start_local: "2026-12-06T00:00:00+01:00"}
    pending_security:
      description: Security updates pending (held packages apart).
      type: int
      sample: 3
    pending_other:
      description: Other updates pending (held packages apart).
      type: int
      sample: 0
    pending_held:
      description: Updates pending for held packages.
      type: int
      sample: 1
    pending:
      description: Names of the pending updates by kind (C(security), C(other), C(held)).
      type: dict
      sample: {security: [libssl3], other: [], held: [postgresql-15]}
    last_patch:
      description: End of the last patch run allowed to change the host, or null.
      type: str
      sample: "2026-11-28T21:05:00+00:00"
    last_patch_age_days:
      description: Days since RV(status.last_patch), or null.
      type: float
      sample: 0.4
    last_upgrade:
      description: Last time the patch runs changed packages, or null.
      type: str
      sample: "2026-11-28T21:05:00+00:00"
    reboot_required:
      description: Whether the host needs a reboot.
      type: bool
      sample: false
    reboot_due:
      description: Whether the reboot policy wants a reboot now.
      type: bool
      sample: false
    reboot_policy:
      description: The reboot policy.
      type: str
      sample: if_required
    boot_time:
      description: When the host last booted.
      type: str
      sample: "2026-11-28T21:07:00+00:00"
    boot_id:
      description: The current boot's ID (changes at every boot, containers included).
      type: str
      sample: 0f3c5e7a9b8d4c1e8f2a6b4d0c9e7f11
    last_reboot_request:
      description: When the patching role last asked for a reboot, or null.
      type: str
      sample: "2026-11-28T21:06:55+00:00"
    holds:
      description: Packages held by mspctl.
      type: list
      elements: str
      sample: [postgresql-15]
"""

import datetime
import os
from typing import TYPE_CHECKING, Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_common import read_json
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import Findings
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_patching import (
    LAST_RUN,
    REBOOT_REQUEST_FILE,
    SEEN,
    AptBackend,
    PatchingError,
    boot_id,
    boot_time,
    iso,
    kernel_pending,
    oldest_seen,
    parse_iso,
    reboot_state,
    split_pending,
    utcnow,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_patching import (
        Installed,
        Update,
    )

DAY = 86400.0
SHOWN = 30  # package names listed in a finding's evidence


def window_summary(window: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not window:
        return None
    return dict(
        (key, window.get(key))
        for key in ("open", "reason", "next_start", "next_start_local", "timezone")
    )


def read_text(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def updates_finding(
    findings: Findings,
    control: str,
    title: str,
    updates: Sequence[Update],
    held: Sequence[str],
    deferral: int,
    seen: Mapping[str, Any],
    now: datetime.datetime,
) -> None:
    if not updates:
        findings.check(
            control,
            title,
            True,
            expected=expected_text(deferral),
            actual="none pending",
            evidence={"held": held[:SHOWN]},
        )
        return
    age = oldest_seen(seen, updates, now).total_seconds() / DAY
    findings.check(
        control,
        title,
        age < deferral,
        expected=expected_text(deferral),
        actual=f"{len(updates)} pending, oldest first seen {age:.1f} days ago",
        evidence={
            "packages": sorted(u.name for u in updates)[:SHOWN],
            "held": held[:SHOWN],
            "oldest_days": round(age, 2),
        },
    )


def expected_text(deferral: int) -> str:
    return "none pending" if deferral <= 0 else f"none pending for {deferral} days or more"


def evaluate(
    params: Mapping[str, Any],
    packages: tuple[Mapping[str, Installed], Sequence[Update]] | PatchingError,
    now: datetime.datetime,
    boot: datetime.datetime | None = None,
    kernel: str | None = None,
    request_file: str | None = None,
    current_boot_id: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``(findings, status)``; ``packages`` is ``backend.packages()`` or a PatchingError."""
    state_dir = params["state_dir"]
    record = read_json(os.path.join(state_dir, LAST_RUN), {}) or {}
    seen = read_json(os.path.join(state_dir, SEEN), {}) or {}
    findings = Findings("patching")

    window = params["window"] or {}
    findings.check(
        "patching.window",
        "The host's class has a patch window",
        bool(params["host_class"] and window),
        expected="a window for one of the host's classes",
        actual=(
            f"{params['host_class']}: {window.get('reason')}, next {window.get('next_start_local')}"
            if params["host_class"] and window
            else "no window for this host class"
        ),
        evidence={"host_class": params["host_class"] or None},
    )

    pending: dict[str, list[str]] = {"security": [], "other": [], "held": []}
    if isinstance(packages, PatchingError):
        for control, title in (
            ("patching.security_updates", "Security updates are applied"),
            ("patching.other_updates", "Other updates are applied"),
        ):
            if control == "patching.other_updates" and params["scope"] != "all":
                continue
            findings.error(control, title, str(packages))
    else:
        _installed, updates = packages
        pending = split_pending(updates)
        live = [u for u in updates if not u.held]
        updates_finding(
            findings,
            "patching.security_updates",
            "No security update pending beyond the deferral period",
            [u for u in live if u.kind == "security"],
            pending["held"],
            params["deferral_days"],
            seen,
            now,
        )
        if params["scope"] == "all":
            updates_finding(
                findings,
                "patching.other_updates",
                "No other update pending beyond the deferral period",
                [u for u in live if u.kind == "other"],
                pending["held"],
                params["deferral_days"],
                seen,
                now,
            )

    last_upgrade = parse_iso(record.get("last_upgrade"))
    reboot = reboot_state(
        params["reboot_policy"], record, boot=boot, kernel=kernel, current_boot_id=current_boot_id
    )
    reboot_window = params["reboot_window"] or {}
    findings.check(
        "patching.reboot_required",
        "No reboot is pending",
        not (reboot["required"] or reboot["due"]),
        expected="no reboot required",
        actual=(
            "reboot required"
            if reboot["required"]
            else "reboot due (policy always)"
            if reboot["due"]
            else "no reboot required"
        ),
        evidence={
            "packages": reboot["packages"],
            "policy": reboot["policy"],
            "next_reboot_window": reboot_window.get("next_start_local"),
        },
    )

    last_patch = parse_iso(record.get("last_run"))
    age_days = (now - last_patch).total_seconds() / DAY if last_patch else None
    findings.check(
        "patching.last_patch_age",
        "A patch run completed recently",
        age_days is not None and age_days <= params["max_age_days"],
        expected="within {} days".format(params["max_age_days"]),
        actual="never" if age_days is None else f"{age_days:.1f} days ago",
        evidence={"last_patch": iso(last_patch), "last_upgrade": iso(last_upgrade)},
    )

    status = {
        "host_class": params["host_class"] or None,
        "window": window_summary(window),
        "reboot_window": window_summary(reboot_window),
        "pending_security": len(pending["security"]),
        "pending_other": len(pending["other"]),
        "pending_held": len(pending["held"]),
        "pending": pending,
        "last_patch": iso(last_patch),
        "last_patch_age_days": round(age_days, 2) if age_days is not None else None,
        "last_upgrade": iso(last_upgrade),
        "reboot_required": reboot["required"],
        "reboot_due": reboot["due"],
        "reboot_policy": reboot["policy"],
        "boot_time": reboot["boot_time"],
        "boot_id": current_boot_id,
        "last_reboot_request": read_text(
            request_file or os.path.join(state_dir, REBOOT_REQUEST_FILE)
        ),
        "holds": record.get("holds") or [],
    }
    return findings.as_list(), status


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            scope=dict(type="str", choices=["security", "all"], default="security"),
            deferral_days=dict(type="int", default=0),
            max_age_days=dict(type="int", default=35),
            reboot_policy=dict(
                type="str", choices=["never", "if_required", "always"], default="if_required"
            ),
            host_class=dict(type="str", default=""),
            window=dict(type="dict", default={}),
            reboot_window=dict(type="dict", default={}),
            now=dict(type="str"),
            state_dir=dict(type="path", default="/var/lib/mspctl/patching"),
        ),
        supports_check_mode=True,
    )
    now = utcnow()
    if module.params["now"]:
        parsed = parse_iso(module.params["now"])
        if parsed is None:
            module.fail_json(msg=f"now: not an ISO 8601 date and time: {module.params['now']!r}")
            return
        now = parsed
    packages: tuple[dict[str, Installed], list[Update]] | PatchingError
    try:
        packages = AptBackend(module, module.params["state_dir"]).packages()
    except PatchingError as exc:
        packages = exc
    boot = boot_time()
    findings, status = evaluate(
        module.params,
        packages,
        now,
        boot=boot,
        kernel=kernel_pending(boot),
        current_boot_id=boot_id(),
    )
    module.exit_json(changed=False, findings=findings, status=status)


if __name__ == "__main__":
    main()
