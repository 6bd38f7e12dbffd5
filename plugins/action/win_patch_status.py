# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``mspctl.policy.win_patch_status``: run the Windows Update probe on the
host, judge it on the controller (``plugins/module_utils/mspctl_winpatching.py``)."""

from __future__ import annotations

import datetime
from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winpatching import (
    PROBE,
    evaluate,
    parse_probe,
)
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    parse_date,
    run_probe,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "scope": {"type": "str", "choices": ["security", "all"], "default": "security"},
    "deferral_days": {"type": "int", "default": 0},
    "max_age_days": {"type": "int", "default": 35},
    "reboot_policy": {
        "type": "str",
        "choices": ["never", "if_required", "always"],
        "default": "if_required",
    },
    "host_class": {"type": "str", "default": ""},
    "window": {"type": "dict", "default": {}},
    "reboot_window": {"type": "dict", "default": {}},
    "holds": {"type": "list", "elements": "str", "default": []},
    "exclusions": {"type": "list", "elements": "str", "default": []},
    "now": {"type": "str"},
}


class ActionModule(ActionBase):  # type: ignore[misc]  # ansible ships no type hints
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        now = datetime.datetime.now(datetime.timezone.utc)
        if params["now"]:
            try:
                now = parse_date(params["now"], "now") or now
            except ProbeError as exc:
                return {**result, "failed": True, "msg": str(exc)}
        try:
            probe: Any = parse_probe(run_probe(self, PROBE, task_vars or {}))
        except ProbeError as exc:
            probe = exc
        findings, status = evaluate(params, probe, now)
        return {**result, "changed": False, "findings": findings, "status": status}
