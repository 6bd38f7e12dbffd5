# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``mspctl.policy.win_asset_facts``: run the asset probe on the Windows
host, build the asset record and judge it on the controller
(``plugins/module_utils/mspctl_winassets.py``)."""

from __future__ import annotations

import datetime
from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_assets import warranty_status
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winassets import (
    PROBE,
    asset_record,
    evaluate,
)
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    run_probe,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "warranty": {
        "type": "dict",
        "default": {},
        "options": {
            "purchase_date": {"type": "str"},
            "warranty_end": {"type": "str"},
            "vendor_contract": {"type": "str"},
        },
    },
    "warranty_warn_days": {"type": "int", "default": 90},
    "warranty_tracking": {"type": "bool", "default": False},
    "bitlocker_required": {"type": "bool", "default": False},
    "collect_packages": {"type": "bool", "default": True},
}


class ActionModule(ActionBase):  # type: ignore[misc]  # ansible ships no type hints
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        now = datetime.datetime.now(datetime.timezone.utc)
        try:
            warranty = warranty_status(
                params["warranty"] or {}, params["warranty_warn_days"], now.date()
            )
        except ValueError as exc:  # the inventory's data is wrong: as the Linux module, fail
            return {**result, "failed": True, "msg": str(exc)}
        try:
            asset = asset_record(
                run_probe(self, PROBE, task_vars or {}, {"Programs": params["collect_packages"]}),
                warranty,
            )
        except ProbeError as exc:  # compliance cannot be evaluated: fail, as asset_facts does
            return {**result, "failed": True, "msg": f"asset probe: {exc}"}
        findings = evaluate(asset, params["warranty_tracking"], params["bitlocker_required"], now)
        return {**result, "changed": False, "asset": asset, "findings": findings}
