#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: apt_packages
short_description: Debian packages present, asking dpkg first and apt only when one is missing
description:
  - Makes sure the packages I(name) are installed on a Debian host. The action plugin asks
    dpkg's database first (C(dpkg-query), one command on the host, no Python module); when
    every package is installed (or held) the task is done, unchanged. Otherwise it runs
    C(ansible.builtin.apt) with the same options, which installs them (refreshing the package
    lists first when older than O(cache_valid_time)) and gives the task its result.
  - On a converged host this replaces an C(ansible.builtin.apt) task that loads apt's whole
    package cache (one to three seconds) with a query of a few milliseconds. The package lists
    are then not refreshed by this task; C(mspctl.policy.apt_upgrade) (the patching policy)
    refreshes them as the tier allows.
  - A name that is not a plain package name (a version C(foo=1.2), an architecture
    C(foo:amd64), a wildcard, a C(.deb)) always goes to C(ansible.builtin.apt).
  - In check mode, a package that apt does not know because the host never had its package
    lists (a fresh host, as check mode does not refresh them) reads as I(would be installed),
    that is C(changed), not failed.
version_added: "0.2.0"
author: mspctl contributors (@mspctl)
extends_documentation_fragment:
  - mspctl.policy.attributes
options:
  name:
    description: The packages that must be installed.
    type: list
    elements: str
    required: true
  install_recommends:
    description:
      - Passed to C(ansible.builtin.apt) when it runs; apt's configuration decides when
        omitted.
    type: bool
  update_cache:
    description:
      - Passed to C(ansible.builtin.apt) when it runs (refresh the package lists before
        installing).
    type: bool
    default: false
  cache_valid_time:
    description: Passed to C(ansible.builtin.apt) when it runs.
    type: int
    default: 0
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options
      can be executed on the controller.
    support: full
  diff_mode:
    support: partial
    details: The diff of C(ansible.builtin.apt) when it runs; none when nothing is missing.
  platform:
    platforms: debian
notes:
  - State C(absent) is C(ansible.builtin.apt)'s own job (the roles' retire paths use it).
seealso:
  - module: ansible.builtin.apt
"""

EXAMPLES = r"""
- name: Install CUPS
  mspctl.policy.apt_packages:
    name: [cups, cups-client]
    install_recommends: false
    update_cache: true
    cache_valid_time: 86400
"""

RETURN = r"""
packages:
  description: The packages asked for.
  returned: always
  type: list
  elements: str
  sample: [cups, cups-client]
missing:
  description:
    - The packages dpkg did not list as installed, which C(ansible.builtin.apt) was run for;
      empty when nothing was missing (apt did not run).
  returned: always
  type: list
  elements: str
  sample: []
cache_updated:
  description: C(ansible.builtin.apt)'s return values, when it ran.
  returned: when apt ran
  type: bool
  sample: true
"""
