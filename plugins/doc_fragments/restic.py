# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restic repository connection options of mspctl.policy.backup_status and restore_test.

Their argument spec is ``restic_argument_spec()`` in module_utils/mspctl_restic.py.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  repository:
    description:
      - restic repository of the host, for example C(sftp:restic@nas:/srv/restic/acme/web01).
    type: str
    required: true
  password:
    description:
      - Repository password. Given to restic in its environment (C(RESTIC_PASSWORD)), never on
        a command line; never logged.
    type: str
    required: true
  host:
    description: Host name the snapshots are taken under (C(restic backup --host)).
    type: str
    required: true
  ssh_config:
    description:
      - ssh client configuration for an C(sftp:) repository (identity, known hosts), passed to
        restic as its C(sftp.command). Omit to use the host's ssh defaults.
    type: path
  cache_dir:
    description: restic cache directory (C(RESTIC_CACHE_DIR)).
    type: path
requirements:
  - the C(restic) program on the managed host
"""
