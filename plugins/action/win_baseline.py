# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``mspctl.policy.win_baseline``: probe the Windows host's security settings
and judge the tier's Windows baseline controls on the controller
(``plugins/module_utils/mspctl_winbaseline.py``)."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import (
    STATUSES,
    finding,
)
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winbaseline import (
    CONTROLS,
    PROBE,
    evaluate,
)
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    run_probe,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "controls": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "id": {"type": "str", "required": True, "choices": sorted(CONTROLS)},
            "title": {"type": "str"},
            "allowed": {"type": "list", "elements": "str"},
            "max_seconds": {"type": "int"},
            "min_length": {"type": "int"},
            "lockout_threshold": {"type": "int"},
        },
    },
    "connect_user": {"type": "str", "default": ""},
    "local_admins": {"type": "list", "elements": "str", "default": []},
}


class ActionModule(ActionBase):  # type: ignore[misc]  # ansible ships no type hints
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        ids = [c["id"] for c in params["controls"]]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            return {**result, "failed": True, "msg": f"controls: repeated id {repeated[0]}"}
        # the client's own local administrators (inventory) join the tier's allowed ones
        controls = [
            {**c, "allowed": (c.get("allowed") or []) + params["local_admins"]}
            if c["id"] == "windows.local_admins"
            else c
            for c in params["controls"]
        ]
        findings: list[dict[str, Any]] = []
        if ids:
            try:
                findings = evaluate(
                    controls,
                    run_probe(self, PROBE, task_vars or {}),
                    params["connect_user"],
                )
            except ProbeError as exc:
                # as mspctl.policy.check: a control that cannot be evaluated is an error
                # finding, not a failed task
                findings = [
                    finding(
                        "baseline",
                        c["id"],
                        c.get("title") or CONTROLS[c["id"]][0],
                        "error",
                        actual=f"baseline probe: {exc}",
                    )
                    for c in params["controls"]
                ]
        summary = {"policy": "baseline", "controls": len(findings)}
        summary.update({s: sum(f["status"] == s for f in findings) for s in STATUSES})
        return {**result, "changed": False, "findings": findings, "summary": summary}
