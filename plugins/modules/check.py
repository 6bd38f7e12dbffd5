#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: check
short_description: Evaluate declarative compliance controls and return findings
description:
  - Evaluates a list of declarative I(controls) on the host (packages, services, files, sysctl
    values, command output) and returns one finding per control in mspctl's finding schema
    C({policy, control_id, title, status, expected, actual, evidence}), with status C(pass),
    C(fail) or C(error).
  - A tier or a client adds controls as data, without new Python. Each control type and its
    keys are documented with a failing and a passing example in C(docs/controls.md).
  - Read-only. The checker never fixes what it finds (remediation belongs to the policy roles),
    so it always returns C(changed=false) and behaves the same in check mode.
  - A control that does not hold is a finding with status C(fail); a control that cannot be
    evaluated (an unreadable file, a missing C(systemctl), a command that times out) is a finding
    with status C(error). Neither fails the task. The task fails only when a control definition
    is invalid, with a message naming the control id and the key.
  - Evidence is bounded to about 2 KB per control (the matched line, the actual mode, a
    command's exit code and the first lines of its output).
version_added: "0.1.0"
author: mspctl contributors (@mspctl)
options:
  policy:
    description: The policy the findings belong to (the C(policy) field of every finding).
    type: str
    default: baseline
  controls:
    description:
      - The controls to evaluate, in order. Ids must be unique.
      - The keys a control accepts depend on its I(type); a key of another type is an error.
      - Validation is done by the module (not by the argument spec) so that an error names the
        control id and the key.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description:
          - Unique id of the control, the C(control_id) of its finding (letters, digits and
            the characters C(_.:/-), for example C(ssh.running)).
        type: str
        required: true
      title:
        description: What the control asserts, in a sentence. Generated from the keys if omitted.
        type: str
      type:
        description: What is checked.
        type: str
        required: true
        choices: [package, service, file, sysctl, command]
      name:
        description:
          - C(package) (required) - a Debian package name, optionally C(name:arch).
          - C(service) (required) - a systemd unit; without a suffix C(.service) is assumed.
        type: str
      state:
        description:
          - C(package) - C(present) (installed) or C(absent) (not installed, or only its
            configuration files left). Default C(present).
          - C(file) - C(file) (a regular file, symlinks followed), C(directory) or C(absent).
            Default C(file).
        type: str
        choices: [present, absent, file, directory]
      version:
        description:
          - C(package) - the installed version must match, in Debian order. An optional
            operator C(<<), C(<=), C(=), C(>=) or C(>>) may precede it (default C(=)), e.g.
            C(>= 1:9.2p1-2).
        type: str
      running:
        description: C(service) - the unit is active (C(true)) or not (C(false)).
        type: bool
      enabled:
        description:
          - C(service) - the unit starts at boot (C(true)) or not (C(false)). Enabled is what
            C(systemctl is-enabled) counts as enabled (C(enabled), C(static), C(indirect),
            C(generated), C(alias)...). Give I(running), I(enabled) or both.
        type: bool
      path:
        description: C(file) (required) - absolute path.
        type: path
      mode:
        description:
          - C(file) - exact permission bits, a quoted octal string such as C("0640").
        type: str
      max_mode:
        description:
          - C(file) - no permission bit beyond these (the mode or stricter), a quoted octal
            string; C("0640") accepts C(0640), C(0600), C(0400), C(0000)...
        type: str
      owner:
        description: C(file) - owner, a user name or a numeric uid.
        type: str
      group:
        description: C(file) - group, a group name or a numeric gid.
        type: str
      contains:
        description:
          - C(file) - a line must match this Python regular expression (searched in the whole
            file with C(re.MULTILINE), so C(^) and C($) anchor lines; a leading (?i) ignores case).
        type: str
      not_contains:
        description: C(file) - no line may match this regular expression.
        type: str
      key:
        description:
          - C(sysctl) (required) - the key, e.g. C(kernel.randomize_va_space); with a C(/) in
            it, C(/) separates and C(.) is literal, as in sysctl(8).
        type: str
      value:
        description:
          - C(sysctl) (required) - the expected value; runs of whitespace compare equal
            (C("32768 60999") matches a tab-separated value).
        type: raw
      argv:
        description:
          - C(command) (required) - the program and its arguments as a list; never a shell line
            (no shell, no C(~) or C($VAR) expansion). Runs with C(LC_ALL=C.UTF-8).
          - The command runs in check mode too, so it must be read-only.
        type: list
        elements: str
      rc:
        description: C(command) - the expected exit code, or a list of accepted codes.
        type: raw
        default: 0
      stdout_regex:
        description: C(command) - a line of standard output must match this regular expression.
        type: str
      stdout_not_regex:
        description: C(command) - no line of standard output may match this regular expression.
        type: str
      timeout:
        description:
          - C(command) - seconds before the command is stopped (TERM, then KILL 5 s later); a
            timeout is a finding with status C(error).
        type: int
        default: 30
notes:
  - Linux only (Debian for C(package) controls; systemd for C(service) controls).
  - Whether a failing control is waived is decided by mspctl on the controller, never here.
  - Every control type, with a failing and a passing example, is described in
    C(docs/controls.md) of the mspctl repository.
extends_documentation_fragment:
  - mspctl.policy.attributes.read_only
"""

EXAMPLES = r"""
- name: Evaluate the baseline controls
  mspctl.policy.check:
    policy: baseline
    controls:
      - id: ssh.package
        type: package
        name: openssh-server
      - id: ssh.service
        title: The SSH server runs and starts at boot
        type: service
        name: ssh
        running: true
        enabled: true
      - id: shadow.mode
        type: file
        path: /etc/shadow
        max_mode: "0640"
        owner: root
      - id: sshd.no_root_password
        type: file
        path: /etc/ssh/sshd_config
        not_contains: '^\s*PermitRootLogin\s+yes'
      - id: kernel.aslr
        type: sysctl
        key: kernel.randomize_va_space
        value: 2
      - id: sshd.effective_config
        type: command
        argv: [sshd, -T]
        stdout_regex: '^permitemptypasswords no$'
        timeout: 10
  register: baseline_result

- name: Show the controls that did not pass
  ansible.builtin.debug:
    msg: "{{ baseline_result.findings | rejectattr('status', 'eq', 'pass') }}"
"""

RETURN = r"""
findings:
  description:
    - One finding per control, in the order of I(controls).
    - C(expected) and C(actual) hold the checked keys (for a regex key, C(actual) is the
      matching line or null); C(evidence) what was seen, at most about 2 KB per control, with
      C(failed) listing the keys that did not hold and C(error) the reason a control could not be
      evaluated.
  returned: always
  type: list
  elements: dict
  sample:
    - policy: baseline
      control_id: shadow.mode
      title: /etc/shadow is a file (owner root, mode at most 0640)
      status: pass
      expected: {state: file, max_mode: "0640", owner: root}
      actual: {state: file, max_mode: "0640", owner: root}
      evidence: {path: /etc/shadow, mode: "0640", owner: root (0), group: shadow (42)}
    - policy: baseline
      control_id: sshd.effective_config
      title: Command sshd -T succeeds
      status: fail
      expected: {rc: 0, stdout_regex: "^permitemptypasswords no$"}
      actual: {rc: 0, stdout_regex: null}
      evidence:
        argv: [/usr/sbin/sshd, -T]
        rc: 0
        stdout: "port 22\naddressfamily any\n...[180 more lines]"
        stderr: ""
        stdout_match: no line matches
        failed: [stdout_regex]
status:
  description: The policy's figures, counted from the findings.
  returned: always
  type: dict
  sample: {policy: baseline, controls: 6, pass: 5, fail: 1, error: 0}
"""

from typing import TYPE_CHECKING, Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_checks import (
    Checker,
    ControlError,
    ModuleRunner,
    normalize,
)
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import (
    STATUSES,
    Findings,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_checks import Control


def evaluate(
    module: AnsibleModule,
    policy: str,
    controls: Sequence[Control],
    checker: Checker | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Findings of ``controls`` (already normalized) and the figures of the policy."""
    checker = checker or Checker(ModuleRunner(module))
    findings = Findings(policy)
    for control, result in zip(controls, checker.evaluate_all(controls)):
        findings.add(
            control["id"],
            control["title"],
            result["status"],
            result["expected"],
            result["actual"],
            result["evidence"],
        )
    items = findings.as_list()
    status: dict[str, Any] = {"policy": policy, "controls": len(items)}
    for name in STATUSES:
        status[name] = sum(1 for item in items if item["status"] == name)
    return items, status


def main() -> None:

    module = AnsibleModule(
        argument_spec=dict(
            policy=dict(type="str", default="baseline"),
            # element keys are validated by normalize(), so an error names the control id
            controls=dict(type="list", elements="dict", default=[]),
        ),
        supports_check_mode=True,
    )
    try:
        controls = normalize(module.params["controls"])
    except ControlError as exc:
        module.fail_json(
            msg=f"invalid control definition: {exc}", control_id=exc.control_id, key=exc.key
        )
    findings, status = evaluate(module, module.params["policy"], controls)
    module.exit_json(changed=False, findings=findings, status=status)


if __name__ == "__main__":
    main()
