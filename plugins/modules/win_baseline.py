#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name (plugins/action/win_baseline.py):
# a short read-only PowerShell probe through ansible.windows.win_powershell, judged in Python
# on the controller. This file holds its documentation only.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: win_baseline
short_description: Evaluate the tier's Windows baseline controls on a Windows host
description:
  - The Windows counterpart of M(mspctl.policy.check) for the baseline policy. The tier's Linux
    controls (package, service, file, sysctl, command) do not apply to Windows; the tier names
    its Windows controls in C(windows_controls).
  - Runs a short PowerShell probe (through C(ansible.windows.win_powershell)) reading
    C(Get-NetFirewallProfile), C(Get-MpComputerStatus), C(Get-BitLockerVolume) of the system
    drive, the C(wuauserv) service, C(Get-LocalGroupMember) of Administrators (S-1-5-32-544)
    with C(Get-LocalUser), C(Get-SmbServerConfiguration), the C(mrxsmb10) driver, the Remote
    Desktop registry values, the machine inactivity limit and C(secedit /export) (password and
    lockout policy); pass or fail is decided on the controller
    (C(plugins/module_utils/mspctl_winbaseline.py)).
  - One finding per control, in the given order. A probe that fails makes every control an
    C(error) finding; the task does not fail (as M(mspctl.policy.check)).
  - Read-only; never reports a change.
version_added: "0.2.0"
author: mspctl contributors (@mspctl)
options:
  controls:
    description: The Windows controls to evaluate.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: The control.
        type: str
        required: true
        choices:
          - windows.bitlocker_system
          - windows.defender_realtime
          - windows.firewall
          - windows.local_admins
          - windows.password_policy
          - windows.rdp_nla
          - windows.screen_lock
          - windows.smb1_disabled
          - windows.update_service
      title:
        description: The finding's title (each control has its own when omitted).
        type: str
      allowed:
        description: windows.local_admins - local accounts that may be administrators.
        type: list
        elements: str
      max_seconds:
        description: windows.screen_lock - the longest inactivity limit that passes (900).
        type: int
      min_length:
        description:
          - windows.password_policy - the shortest minimum password length that passes (12).
        type: int
      lockout_threshold:
        description:
          - windows.password_policy - the most bad attempts before lockout that passes (10).
        type: int
  connect_user:
    description:
      - The account mspctl connects with (C(ansible_user)); always allowed by windows.local_admins.
    type: str
    default: ""
  local_admins:
    description:
      - The client's own local administrator accounts (inventory), allowed by
        windows.local_admins besides the control's C(allowed).
    type: list
    elements: str
    default: []
attributes:
  platform:
    platforms: windows
extends_documentation_fragment:
  - mspctl.policy.attributes.read_only
  - mspctl.policy.attributes.windows_action
"""

EXAMPLES = r"""
- name: Evaluate the Windows baseline
  mspctl.policy.win_baseline:
    controls:
      - id: windows.firewall
      - id: windows.local_admins
        allowed: [backupadmin]
      - id: windows.screen_lock
        max_seconds: 600
    connect_user: "{{ ansible_user }}"
"""

RETURN = r"""
findings:
  description:
    - One finding per control in mspctl's schema (C(plugins/module_utils/mspctl_findings.py)).
  returned: always
  type: list
  elements: dict
  sample:
    - policy: baseline
      control_id: windows.rdp_nla
      title: Remote Desktop is off or requires Network Level Authentication
      status: fail
      expected: off, or NLA required
      actual: on without Network Level Authentication
      evidence: {deny: 0, nla: 0}
summary:
  description: Counts by status.
  returned: always
  type: dict
  sample: {policy: baseline, controls: 9, pass: 8, fail: 1, error: 0}
"""
