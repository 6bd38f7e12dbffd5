#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: printer_status
short_description: Report the printers policy's compliance findings of a host
description:
  - Reads the local CUPS scheduler's queues over IPP and compares them with the inventory's
    list; returns one finding per control and queue in the schema of mspctl's
    C(mspctl_findings) module utility, and a C(status) summary.
  - "Controls (the queue name ends the control id of per-queue controls):
    C(printers.scheduler) CUPS answers;
    C(printers.queue_present.<queue>) a listed queue exists;
    C(printers.queue_enabled.<queue>) it is enabled and accepts jobs;
    C(printers.device_uri.<queue>) its device URI is the inventory's;
    C(printers.queue_absent.<queue>) a queue listed as absent does not exist;
    C(printers.default) the default queue is the inventory's (when one is named);
    C(printers.unlisted) no queue outside the list (with O(remove_unlisted=true));
    C(printers.sharing) CUPS publishes shared queues only when told (when O(sharing) is given)."
  - Read-only; never reports a change. A failing control is a finding with status C(fail),
    never a failed task; a control that cannot be evaluated has status C(error).
version_added: "0.1.0"
author: mspctl contributors (@mspctl)
options:
  queues:
    description:
      - The inventory's queues, as given to M(mspctl.policy.cups_queue); only C(name), C(uri),
        C(default) and C(state) are read, the other keys are accepted and ignored.
    type: list
    elements: dict
    default: []
  default:
    description: Name of the default queue; wins over the queues' C(default) flags.
    type: str
  remove_unlisted:
    description: Report queues outside the list as a failing C(printers.unlisted) control.
    type: bool
    default: false
  sharing:
    description: Whether CUPS should publish shared queues; not given, not checked.
    type: bool
extends_documentation_fragment:
  - mspctl.policy.attributes.read_only
"""

EXAMPLES = r"""
- name: Report the printers policy status
  mspctl.policy.printer_status:
    queues: "{{ printers_queues }}"
    default: "{{ printers_default | default(omit, true) }}"
    remove_unlisted: "{{ printers_remove_unlisted }}"
    sharing: "{{ printers_sharing }}"
  register: printers_status_result
"""

RETURN = r"""
findings:
  description: One finding per control (and per queue for the per-queue controls).
  returned: always
  type: list
  elements: dict
  sample:
    - policy: printers
      control_id: printers.queue_enabled.office
      title: Queue office is enabled and accepts jobs
      status: pass
      expected: enabled, accepting jobs
      actual: enabled, accepting jobs
      evidence: {queue: office}
status:
  description: The policy's figures on this host.
  returned: always
  type: dict
  sample:
    scheduler: running
    queues_expected: 2
    queues_present: 2
    queues_enabled: 2
    queues: [office, labels]
    default: office
    sharing: false
    unlisted: []
"""

from typing import TYPE_CHECKING, Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_cups import (
    CupsUnavailable,
    default_of,
    enabled_text,
    find,
    read_queues,
    read_sharing,
    sanitize_uri,
)
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import Findings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_cups import Queue

ENABLED = "enabled, accepting jobs"


def wanted_default(queues: Sequence[Mapping[str, Any]], default: str | None) -> str | None:
    if default:
        return default
    for queue in queues:
        if queue.get("default") and (queue.get("state") or "present") == "present":
            name: str = queue["name"]
            return name
    return None


def sharing_text(value: bool | None) -> str:
    if value is None:
        return "unknown"
    return "published to the network" if value else "local only"


def evaluate(
    queues: Sequence[Mapping[str, Any]],
    default: str | None,
    remove_unlisted: bool,
    sharing: bool | None,
    current: Mapping[str, Queue] | None,
    sharing_now: bool | None,
    error: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(findings, status) for the inventory's list and the scheduler's ``current`` queues.

    ``error`` says why the scheduler could not be read: every control is then an error, unless
    the host needs no CUPS (no present queue, sharing not asked for).
    """
    findings = Findings("printers")
    scheduler, current, sharing_now, error = scheduler_control(
        findings, queues, sharing, current, sharing_now, error
    )
    persistent = {n: q for n, q in (current or {}).items() if not q["temporary"]}
    listed: set[str] = set()
    present_count = enabled_count = expected = 0
    for queue in queues:
        listed.add(queue["name"].lower())
        counted, present, enabled = queue_controls(findings, queue, persistent, error)
        expected += counted
        present_count += present
        enabled_count += enabled
    default_now = default_of(persistent) if error is None else None
    unlisted = sorted(n for n in persistent if n.lower() not in listed)
    host_controls(
        findings,
        queues,
        default,
        default_now,
        remove_unlisted,
        unlisted,
        sharing,
        sharing_now,
        error,
    )
    status = {
        "scheduler": scheduler,
        "queues_expected": expected,
        "queues_present": present_count,
        "queues_enabled": enabled_count,
        "queues": sorted(persistent),
        "default": default_now,
        "sharing": sharing_now,
        "unlisted": unlisted,
    }
    return findings.as_list(), status


def scheduler_control(
    findings: Findings,
    queues: Sequence[Mapping[str, Any]],
    sharing: bool | None,
    current: Mapping[str, Queue] | None,
    sharing_now: bool | None,
    error: str | None,
) -> tuple[str, Mapping[str, Queue] | None, bool | None, str | None]:
    """The scheduler's finding; (scheduler state, current, sharing_now, error) as evaluated."""
    needed = bool(sharing) or any((q.get("state") or "present") == "present" for q in queues)
    title = "The CUPS scheduler answers"
    if error is None:
        findings.check("printers.scheduler", title, ok=True, expected="running", actual="running")
        return "running", current, sharing_now, error
    if not needed:
        # no queue to serve: no CUPS is fine, and it means no queue and nothing shared
        findings.check(
            "printers.scheduler",
            title,
            ok=True,
            expected="not needed (no queue)",
            actual="not running",
        )
        return "not needed", {}, False, None
    findings.check("printers.scheduler", title, ok=False, expected="running", actual=error)
    return "unreachable", current, sharing_now, error


def queue_controls(
    findings: Findings,
    queue: Mapping[str, Any],
    persistent: Mapping[str, Queue],
    error: str | None,
) -> tuple[int, int, int]:
    """One listed queue's findings; (expected, present, enabled) counts (0 or 1 each)."""
    name = queue["name"]
    evidence = {"queue": name}
    existing = find(persistent, name) if error is None else None
    if (queue.get("state") or "present") == "absent":
        control = f"printers.queue_absent.{name}"
        title = f"Queue {name} is removed"
        if error:
            findings.error(control, title, error, evidence)
        else:
            findings.check(
                control,
                title,
                ok=existing is None,
                expected="absent",
                actual="present" if existing else "absent",
                evidence=evidence,
            )
        return 0, 0, 0
    controls = (
        (f"printers.queue_present.{name}", f"Queue {name} is present"),
        (f"printers.queue_enabled.{name}", f"Queue {name} is enabled and accepts jobs"),
        (f"printers.device_uri.{name}", f"Queue {name} prints to the inventory's device"),
    )
    if error:
        for control, title in controls:
            findings.error(control, title, error, evidence)
        return 1, 0, 0
    have = persistent.get(existing) if existing else None
    want_uri = sanitize_uri(queue.get("uri"))
    findings.check(
        controls[0][0],
        controls[0][1],
        ok=have is not None,
        expected="present",
        actual="present" if have else "absent",
        evidence=evidence,
    )
    if have is None:
        findings.check(
            controls[1][0],
            controls[1][1],
            ok=False,
            expected=ENABLED,
            actual="absent",
            evidence=evidence,
        )
        findings.check(
            controls[2][0],
            controls[2][1],
            ok=False,
            expected=want_uri,
            actual="absent",
            evidence=evidence,
        )
        return 1, 0, 0
    enabled = have["enabled"] and have["accepting"]
    findings.check(
        controls[1][0],
        controls[1][1],
        ok=enabled,
        expected=ENABLED,
        actual=enabled_text(have),
        evidence=evidence,
    )
    findings.check(
        controls[2][0],
        controls[2][1],
        ok=have["uri"] == want_uri,
        expected=want_uri,
        actual=have["uri"],
        evidence=evidence,
    )
    return 1, 1, 1 if enabled else 0


def host_controls(
    findings: Findings,
    queues: Sequence[Mapping[str, Any]],
    default: str | None,
    default_now: str | None,
    remove_unlisted: bool,
    unlisted: list[str],
    sharing: bool | None,
    sharing_now: bool | None,
    error: str | None,
) -> None:
    """The default queue, unlisted queues and sharing findings."""
    want_default = wanted_default(queues, default)
    if want_default:
        title = f"The default queue is {want_default}"
        if error:
            findings.error("printers.default", title, error)
        else:
            findings.check(
                "printers.default",
                title,
                ok=(default_now or "").lower() == want_default.lower(),
                expected=want_default,
                actual=default_now or "none",
            )
    if remove_unlisted:
        title = "No queue outside the inventory"
        if error:
            findings.error("printers.unlisted", title, error)
        else:
            findings.check(
                "printers.unlisted", title, ok=not unlisted, expected=[], actual=unlisted
            )
    if sharing is not None:
        title = "CUPS publishes shared queues only when told to"
        if error:
            findings.error("printers.sharing", title, error)
        else:
            findings.check(
                "printers.sharing",
                title,
                ok=sharing_now == sharing,
                expected=sharing_text(sharing),
                actual=sharing_text(sharing_now),
            )


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    queues = [q for q in params["queues"] or [] if isinstance(q, dict) and q.get("name")]
    current: dict[str, Queue] | None = None
    sharing_now: bool | None = None
    error: str | None = None
    try:
        current = read_queues()
        if params["sharing"] is not None:
            sharing_now = read_sharing(module)
    except CupsUnavailable as exc:
        error = str(exc)
    findings, status = evaluate(
        queues,
        params["default"],
        params["remove_unlisted"],
        params["sharing"],
        current,
        sharing_now,
        error,
    )
    return {"changed": False, "findings": findings, "status": status}


def main() -> None:

    module = AnsibleModule(
        argument_spec=dict(
            queues=dict(type="list", elements="dict", default=[]),
            default=dict(type="str"),
            remove_unlisted=dict(type="bool", default=False),
            sharing=dict(type="bool"),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
