# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``attributes:`` of mspctl's modules, written once.

``mspctl.policy.attributes``: a module that changes the host (check mode and diff mode in full,
Linux). ``mspctl.policy.attributes.read_only``: a status module that only reads the host and
reports findings (check mode in full, nothing to diff). A module overrides a single value in its
own ``attributes:`` (e.g. ``platform: {platforms: debian}``); Ansible merges the two.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description:
      - Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in check_mode),
        when in diff mode.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: linux
"""

    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    description:
      - Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads the host; check mode returns the same findings.
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in check_mode),
        when in diff mode.
    support: none
    details: Nothing is changed, so there is nothing to diff.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: linux
"""

    WINDOWS_ACTION = r"""
options: {}
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options
      can be executed on the controller.
    support: full
    details:
      - A short PowerShell script runs on the Windows host through
        C(ansible.windows.win_powershell); the judgement is made on the controller, in Python.
requirements:
  - the C(ansible.windows) collection on the controller
"""
