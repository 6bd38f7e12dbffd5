#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name (plugins/action/win_patch_status.py):
# a short read-only PowerShell probe through ansible.windows.win_powershell, judged in Python
# on the controller. This file holds its documentation only.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: win_patch_status
short_description: Report the patching policy's findings on a Windows host
description:
  - Read-only status of the C(patching) policy on a Windows host, the last task of the role.
  - Runs a short PowerShell probe (through C(ansible.windows.win_powershell)) that reads the
    Windows Update Agent (pending software updates with their categories, KB numbers and
    publication dates, whether a reboot is required, the last successful search and
    installation) and judges it on the controller, in Python
    (C(plugins/module_utils/mspctl_winpatching.py)).
  - Controls and their ids are those of M(mspctl.policy.patch_status) on Debian
    (C(patching.window), C(patching.security_updates), C(patching.other_updates) with
    O(scope=all), C(patching.reboot_required), C(patching.last_patch_age)), so reports and
    waivers treat both platforms alike.
  - An update is a security update when one of its categories is C(Security Updates) or
    C(Critical Updates); its age counts from its publication date
    (C(IUpdate.LastDeploymentChangeTime)). Updates matched by O(holds) or O(exclusions) are
    reported as held and fail no control.
version_added: "0.2.0"
author: mspctl contributors (@mspctl)
options:
  scope:
    description: The tier's patching scope; C(all) adds the C(patching.other_updates) control.
    type: str
    choices: [security, all]
    default: security
  deferral_days:
    description: How long (days since publication) an update may stay pending.
    type: int
    default: 0
  max_age_days:
    description: Days the last successful installation may be old (C(patching.last_patch_age));
      a host with nothing pending in its scope is judged by its last successful search.
    type: int
    default: 35
  reboot_policy:
    description: The tier's reboot policy, reported with the reboot control.
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
  holds:
    description: KB numbers (C(KB5034441)) or regular expressions on update titles kept back
      (the C(reject_list) of C(ansible.windows.win_updates)).
    type: list
    elements: str
    default: []
  exclusions:
    description: Like O(holds), from the inventory's exclusions.
    type: list
    elements: str
    default: []
  now:
    description: Instant the ages are computed at, ISO 8601 with an offset; default now.
    type: str
attributes:
  platform:
    platforms: windows
extends_documentation_fragment:
  - mspctl.policy.attributes.read_only
  - mspctl.policy.attributes.windows_action
"""

EXAMPLES = r"""
- name: Report the patching status (Windows)
  mspctl.policy.win_patch_status:
    scope: all
    deferral_days: 7
    host_class: servers
    window: "{{ patching_window_status }}"
    holds: [KB5034441]
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
      expected: none pending
      actual: 1 pending, oldest published 12.4 days ago
      evidence: {updates: ["2026-11 Cumulative Update for Windows 11 (KB5046617)"], held: []}
status:
  description: The policy's figures.
  returned: always
  type: dict
  contains:
    platform:
      description: Always C(windows).
      type: str
      sample: windows
    pending_security:
      description: Pending security and critical updates, held ones left out.
      type: int
      sample: 1
    pending_other:
      description: Other pending updates, held ones left out.
      type: int
      sample: 2
    pending_held:
      description: Pending updates kept back by O(holds) or O(exclusions).
      type: int
      sample: 0
    pending_ages_days:
      description: Days since publication of each pending update that is not held.
      type: dict
      sample: {"2026-11 Cumulative Update for Windows 11 (KB5046617)": 12.4}
    last_patch:
      description: The last successful installation (ISO 8601, UTC), or null.
      type: str
      sample: "2026-11-12T21:14:03Z"
    reboot_required:
      description: Windows Update says a reboot is required.
      type: bool
      sample: false
"""
