# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``mspctl.policy.file_set``: read the role's files and render its templates
on the controller, then write them all on the host in one module run
(``plugins/modules/file_set.py``)."""

from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase
from ansible.template import trust_as_template
from jinja2.defaults import (
    BLOCK_END_STRING,
    BLOCK_START_STRING,
    COMMENT_END_STRING,
    COMMENT_START_STRING,
    VARIABLE_END_STRING,
    VARIABLE_START_STRING,
)

# ansible.builtin.template's defaults, so a template renders the same through either
TEMPLATE_OVERRIDES = {
    "block_start_string": BLOCK_START_STRING,
    "block_end_string": BLOCK_END_STRING,
    "variable_start_string": VARIABLE_START_STRING,
    "variable_end_string": VARIABLE_END_STRING,
    "comment_start_string": COMMENT_START_STRING,
    "comment_end_string": COMMENT_END_STRING,
    "trim_blocks": True,
    "lstrip_blocks": False,
    "newline_sequence": "\n",
}
# ansible-core's default ``ansible_managed`` (its setting is deprecated for 2.23: "set the
# ansible_managed variable"); a play or inventory that sets the variable wins
ANSIBLE_MANAGED = "Ansible managed"
SOURCES = ("src", "template", "content")


class ActionModule(ActionBase):  # type: ignore[misc]  # ansible ships no type hints
    TRANSFERS_FILES = False
    _requires_connection = True
    _VALID_ARGS = frozenset(("directories", "files"))  # ActionBase.run refuses any other

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        files = args.get("files") or []
        if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
            raise AnsibleActionFail("file_set: files must be a list of mappings")
        module_args = {
            "directories": args.get("directories") or [],
            "files": [self._with_content(dict(entry), task_vars) for entry in files],
        }
        done = self._execute_module(
            module_name="mspctl.policy.file_set", module_args=module_args, task_vars=task_vars
        )
        done.pop("invocation", None)  # every file's content: not worth keeping in each event
        return {**result, **done}

    def _with_content(self, entry: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        """The entry with ``content`` in place of its ``src`` or ``template``."""
        dest = entry.get("dest", "?")
        given = [key for key in SOURCES if entry.get(key) is not None]
        if len(given) != 1:
            raise AnsibleActionFail(
                f"file_set: files entry {dest} needs exactly one of src, template, content"
                f" (has {', '.join(given) or 'none'})"
            )
        if "src" in given:
            path = self._find(entry.pop("src"), "files")
            entry["content"] = self._loader.get_text_file_contents(path)
        elif "template" in given:
            entry["content"] = self._render(
                self._find(entry.pop("template"), "templates"), task_vars
            )
        return entry

    def _find(self, name: str, folder: str) -> str:
        try:
            return str(self._find_needle(folder, name))
        except AnsibleError as exc:
            raise AnsibleActionFail(f"file_set: {exc.message}") from None

    def _render(self, source: str, task_vars: dict[str, Any]) -> str:
        """Render a template as ansible.builtin.template does: the play's search path and the
        template's own folder (each with its templates/ subfolder), the task's variables."""
        searchpath = [*task_vars.get("ansible_search_path", []), self._loader._basedir]
        searchpath.append(os.path.dirname(source))
        searchpath = [p for base in searchpath for p in (os.path.join(base, "templates"), base)]
        variables = dict(task_vars)
        variables.setdefault("ansible_managed", ANSIBLE_MANAGED)
        templar = self._templar.copy_with_new_env(
            searchpath=searchpath, available_variables=variables
        )
        data = trust_as_template(self._loader.get_text_file_contents(source))
        rendered = templar.template(data, escape_backslashes=False, overrides=TEMPLATE_OVERRIDES)
        return "" if rendered is None else str(rendered)
