# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``mspctl.policy.win_monitoring_status``: probe windows_exporter, its
firewall rule and its metrics on the Windows host, judge them on the controller
(``plugins/module_utils/mspctl_winmonitoring.py``)."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winmonitoring import (
    PROBE,
    evaluate,
    parse_probe,
)
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    run_probe,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "service": {"type": "str", "default": "windows_exporter"},
    "rule": {"type": "str", "default": "mspctl-windows-exporter"},
    "port": {"type": "int", "default": 9182},
    "allowed_addresses": {"type": "list", "elements": "str", "default": []},
    "checks": {"type": "list", "elements": "str", "default": []},
    "disk_crit_percent": {"type": "int", "default": 95},
    "msp_hook": {"type": "dict", "default": {}},
}


class ActionModule(ActionBase):  # type: ignore[misc]  # ansible ships no type hints
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        params["url"] = f"http://127.0.0.1:{params['port']}/metrics"
        try:
            probe: Any = parse_probe(
                run_probe(
                    self,
                    PROBE,
                    task_vars or {},
                    {"Service": params["service"], "Rule": params["rule"], "Url": params["url"]},
                )
            )
        except ProbeError as exc:
            probe = exc
        findings, status = evaluate(params, probe)
        return {**result, "changed": False, "findings": findings, "status": status}
