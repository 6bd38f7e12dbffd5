# Copyright: (c) mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible filter ``mspctl.policy.win_reboot_due``: does this Windows patch run call for a
reboot under the tier's reboot policy?"""

# Ansible's plugin layout puts DOCUMENTATION, EXAMPLES and RETURN before the imports.

from __future__ import annotations

DOCUMENTATION = r"""
name: win_reboot_due
short_description: Whether a Windows patch run calls for a reboot under a reboot policy
version_added: "0.2.0"
description:
  - Reads the registered result of C(ansible.windows.win_updates) and the tier's reboot
    policy; the decision is C(reboot_due) in C(plugins/module_utils/mspctl_winpatching.py).
  - C(never) never reboots; C(if_required) reboots when Windows says a reboot is required
    (C(reboot_required)); C(always) also after any run that installed something.
  - Whether the reboot may happen now (the reboot window) is decided by the role, not here.
positional: policy
options:
  _input:
    description: The registered result of C(ansible.windows.win_updates).
    type: dict
    required: true
  policy:
    description: The reboot policy.
    type: str
    choices: [never, if_required, always]
    required: true
"""

EXAMPLES = r"""
- name: Reboot when the policy says so
  ansible.windows.win_reboot:
  when: patching_run | mspctl.policy.win_reboot_due(patching_reboot)
"""

RETURN = r"""
_value:
  description: True when a reboot is due.
  type: bool
"""

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winpatching import reboot_due


def win_reboot_due(result: Any, policy: str) -> bool:
    if not isinstance(result, dict):
        raise AnsibleFilterError("win_reboot_due: the input must be win_updates' result")
    if policy not in ("never", "if_required", "always"):
        raise AnsibleFilterError(f"win_reboot_due: unknown reboot policy {policy!r}")
    if result.get("skipped"):
        return False
    # changed: the run installed updates (or would, in check mode); searched runs never change
    return reboot_due(
        policy, bool(result.get("reboot_required")), bool(result.get("changed")), False
    )


class FilterModule:
    """Windows patching filters."""

    def filters(self) -> dict[str, Any]:
        return {"win_reboot_due": win_reboot_due}
