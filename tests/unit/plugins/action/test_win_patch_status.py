"""The ``mspctl.policy.win_patch_status`` action plugin end to end on the controller: its
arguments are validated, the probe goes through ``ansible.windows.win_powershell`` (here a
recorded result in place of ``_execute_module``), and the findings come back read-only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from ansible_collections.mspctl.policy.plugins.action.win_patch_status import ActionModule
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winpatching import PROBE

PROBES = Path(__file__).resolve().parent.parent / "module_utils" / "probes"


def run_action(args: dict[str, Any], recorded: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = False
    action = ActionModule(task, MagicMock(), MagicMock(), MagicMock(), MagicMock(), MagicMock())
    calls: list[dict[str, Any]] = []

    def execute_module(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return json.loads((PROBES / f"winupdate-{recorded}.json").read_text())

    action._execute_module = execute_module  # type: ignore[method-assign]
    return action.run(task_vars={}), calls


def test_the_probe_runs_through_win_powershell_and_is_judged_here():
    result, calls = run_action(
        {
            "scope": "all",
            "host_class": "servers",
            "window": {"reason": "outside window"},
            "now": "2026-11-30T13:00:00+01:00",
        },
        "pending",
    )
    assert [c["module_name"] for c in calls] == ["ansible.windows.win_powershell"]
    assert calls[0]["module_args"] == {"script": PROBE}
    assert result["changed"] is False
    statuses = {f["control_id"]: f["status"] for f in result["findings"]}
    assert statuses["patching.security_updates"] == "fail"
    assert statuses["patching.other_updates"] == "fail"
    assert result["status"]["pending_security"] == 2


def test_a_failed_probe_gives_error_findings_not_a_failed_task():
    result, _ = run_action({}, "service-disabled")
    assert "failed" not in result
    assert "error" in {f["status"] for f in result["findings"]}


def test_wrong_argument_fails_the_task():
    from ansible.errors import AnsibleActionFail

    with pytest.raises(AnsibleActionFail, match="scope"):
        run_action({"scope": "everything"}, "converged")


def test_probe_is_short_and_read_only():
    lines = [line for line in PROBE.strip().splitlines() if line.strip()]
    assert len(lines) <= 25
    assert "SupportsShouldProcess" in PROBE  # runs in check mode too
    for verb in (".Install(", ".Download(", "CreateUpdateInstaller", "Set-", "Remove-", "New-Item"):
        assert verb not in PROBE
