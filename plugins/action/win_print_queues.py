# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``mspctl.policy.win_print_queues``: read the Windows host's drivers,
TCP/IP ports and queues, plan the changes on the controller
(``plugins/module_utils/mspctl_winprinters.py``), apply them outside check mode, report."""

from __future__ import annotations

import json
from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprinters import (
    APPLY,
    PROBE,
    desired,
    evaluate,
    parse_probe,
    plan,
)
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    run_probe,
    run_script,
)

QUEUE_OPTIONS: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "uri": {"type": "str"},
    "driver": {"type": "str"},
    "description": {"type": "str"},
    "location": {"type": "str"},
    "default": {"type": "bool", "default": False},
    "shared": {"type": "bool", "default": False},
    "error_policy": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}
ARGUMENT_SPEC: dict[str, Any] = {
    "queues": {"type": "list", "elements": "dict", "default": [], "options": QUEUE_OPTIONS},
    "remove_unlisted": {"type": "bool", "default": False},
    "sharing": {"type": "bool", "default": False},
}


class ActionModule(ActionBase):  # type: ignore[misc]  # ansible ships no type hints
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            want = desired(params["queues"], params["sharing"])
        except ValueError as exc:  # the inventory's data: fail naming the queue and key
            return {**result, "failed": True, "msg": str(exc)}
        try:
            current = parse_probe(run_probe(self, PROBE, task_vars))
            actions, before, after = plan(current, want, params["remove_unlisted"])
            if actions and not self._play_context.check_mode:
                run_script(self, APPLY, task_vars, {"Actions": json.dumps(actions)})
                current = parse_probe(run_probe(self, PROBE, task_vars))
        except ProbeError as exc:
            return {**result, "failed": True, "msg": f"printers: {exc}"}
        out = {
            **result,
            "changed": bool(actions),
            "actions": actions,
            "findings": evaluate(current, params["queues"], want, params["remove_unlisted"]),
        }
        if self._play_context.diff and actions:
            out["diff"] = {"before": before, "after": after}
        return out
