"""The ``mspctl.policy.win_asset_facts`` action plugin on the controller, its probe answered by
a recorded ``win_powershell`` result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

from ansible_collections.mspctl.policy.plugins.action.win_asset_facts import ActionModule

PROBES = Path(__file__).resolve().parent.parent / "module_utils" / "probes"


def run_action(args: dict[str, Any], recorded: str) -> dict[str, Any]:
    task = MagicMock()
    task.args = args
    task.async_val = 0
    action = ActionModule(task, MagicMock(), MagicMock(), MagicMock(), MagicMock(), MagicMock())
    action._execute_module = lambda **_kw: json.loads((PROBES / recorded).read_text())
    return action.run(task_vars={})


def test_record_and_findings_come_back_read_only():
    result = run_action(
        {"warranty_tracking": True, "warranty": {"warranty_end": "2099-01-01"}},
        "assets-server.json",
    )
    assert result["changed"] is False
    assert result["asset"]["serial"] == "9XK2QH3"
    assert result["asset"]["warranty"]["status"] == "valid"
    assert [f["control_id"] for f in result["findings"]] == [
        "assets.inventory_collected",
        "assets.warranty_recorded",
        "assets.warranty_valid",
        "assets.antivirus",
    ]


def test_a_wrong_warranty_date_fails_naming_the_key():
    result = run_action({"warranty": {"warranty_end": "31/01/2027"}}, "assets-server.json")
    assert result["failed"] is True
    assert result["msg"].startswith("warranty.warranty_end:")


def test_a_failed_probe_fails_the_task_as_on_linux():
    result = run_action({}, "winupdate-service-disabled.json")
    assert result["failed"] is True
    assert result["msg"] == "asset probe: Exception from HRESULT: 0x80070422"
