# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``attributes:`` every mspctl module documents (descriptions here, support in the module).

``mspctl.policy.attributes`` gives check_mode and diff_mode; ``mspctl.policy.attributes.platform``
adds the platform attribute (the module names its platforms).
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description:
      - Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in check_mode),
        when in diff mode.
"""

    PLATFORM = r"""
options: {}
attributes:
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
"""
