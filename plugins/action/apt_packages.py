# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``mspctl.policy.apt_packages``: ask dpkg's database whether the packages
are installed (one command on the host, no Python module), and run ``ansible.builtin.apt`` only
for a host that lacks one of them (``plugins/modules/apt_packages.py`` documents it)."""

from __future__ import annotations

import re
import shlex
from typing import Any

from ansible.plugins.action import ActionBase

ARGUMENT_SPEC: dict[str, Any] = {
    "name": {"type": "list", "elements": "str", "required": True},
    "install_recommends": {"type": "bool"},
    "update_cache": {"type": "bool", "default": False},
    "cache_valid_time": {"type": "int", "default": 0},
}
# a plain package name (Debian Policy 5.6.1): anything else (a version, an architecture, a
# wildcard, a .deb path) is left to apt, which knows what it means
PLAIN = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
QUERY = "dpkg-query -W -f='${Package}\\t${db:Status-Abbrev}\\n' -- "
UNKNOWN = re.compile(r"^No package matching")


def installed_of(stdout: str) -> set[str]:
    """The names dpkg-query's output lists as installed: wanted (``i``) or held (``h``),
    installed (``i``), and not in need of a reinstall (no ``R`` flag)."""
    names = set()
    for line in stdout.splitlines():
        name, _tab, status = line.partition("\t")
        if status[:2] in ("ii", "hi") and status[2:3] in ("", " "):
            names.add(name)
    return names


class ActionModule(ActionBase):  # type: ignore[misc]  # ansible ships no type hints
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        names: list[str] = params["name"]
        missing = list(names)
        if all(PLAIN.match(n) for n in names):
            # a failed query (a name dpkg never saw) lists the others on stdout all the same
            query = self._low_level_execute_command(QUERY + " ".join(map(shlex.quote, names)))
            installed = installed_of(query.get("stdout", ""))
            missing = [n for n in names if n not in installed]
        if not missing:
            return {**result, "changed": False, "packages": names, "missing": []}
        apt_args = {"name": names, "state": "present"}
        for key in ("install_recommends", "update_cache", "cache_valid_time"):
            if params[key] is not None:
                apt_args[key] = params[key]
        done = self._execute_module(
            module_name="ansible.builtin.apt", module_args=apt_args, task_vars=task_vars
        )
        done.pop("invocation", None)
        if self._task.check_mode and done.get("failed") and UNKNOWN.search(done.get("msg", "")):
            # check mode does not refresh apt's lists: on a host that never had them (a fresh
            # host) a package is not known yet, which only means that it would be installed
            done = {
                "changed": True,
                "msg": f"would install {', '.join(missing)} (apt's lists are not there yet)",
            }
        return {**result, **done, "packages": names, "missing": missing}
