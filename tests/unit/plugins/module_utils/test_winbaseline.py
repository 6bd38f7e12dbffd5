"""The baseline policy on Windows (mspctl_winbaseline and the win_baseline action plugin),
judged from recorded probe outputs (``tests/fixtures/windows/baseline-*.json``, documented field
by field in ``tests/fixtures/windows/README.md``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from ansible_collections.mspctl.policy.plugins.action.win_baseline import ActionModule
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_winbaseline as wbl
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    probe_output,
)

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "windows"
ALL = [{"id": cid} for cid in wbl.CONTROLS]


def recorded(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"baseline-{name}.json").read_text())


def judged(name: str, controls: list[dict[str, Any]] | None = None, user: str = "mspctl"):
    findings = wbl.evaluate(controls or ALL, probe_output(recorded(name)), user)
    return {f["control_id"]: f for f in findings}


def statuses(result: dict[str, Any]) -> dict[str, str]:
    return {cid: f["status"] for cid, f in result.items()}


def test_a_hardened_server_passes_every_control():
    assert set(statuses(judged("hardened")).values()) == {"pass"}


def test_a_fresh_evaluation_vm_fails_what_is_open_and_says_what():
    result = judged("fresh")
    assert set(statuses(result).values()) == {"fail"}
    actual = {cid: f["actual"] for cid, f in result.items()}
    assert actual == {
        "windows.firewall": "off: Public",
        "windows.defender_realtime": "off",
        "windows.bitlocker_system": "BitLocker is not installed",
        "windows.update_service": "start mode Disabled, Stopped",
        # an Azure AD account and a disabled one are not unlisted local administrators
        "windows.local_admins": "built-in Administrator enabled; unlisted local administrators: "
        "WIN11-EVAL\\tom",
        "windows.smb1_disabled": "SMB1 on: server, client",
        "windows.rdp_nla": "on without Network Level Authentication",
        "windows.screen_lock": "not set",
        "windows.password_policy": "minimum length 0; complexity off; no lockout",
    }


def test_parameters_come_from_the_tier_and_the_inventory():
    result = judged(
        "fresh",
        [
            {"id": "windows.local_admins", "allowed": ["tom"], "title": None},
            {"id": "windows.password_policy", "min_length": 0, "lockout_threshold": None},
        ],
    )
    assert result["windows.local_admins"]["actual"] == "built-in Administrator enabled"
    assert result["windows.password_policy"]["actual"] == "complexity off; no lockout"
    stricter = judged(
        "hardened",
        [
            {"id": "windows.screen_lock", "max_seconds": 600},
            {"id": "windows.password_policy", "min_length": 16, "lockout_threshold": 3},
        ],
    )
    assert stricter["windows.screen_lock"]["actual"] == "900 s"
    assert stricter["windows.password_policy"]["actual"] == "minimum length 14; lockout after 5"
    assert set(statuses(stricter).values()) == {"fail"}


def test_the_connecting_account_is_always_an_allowed_administrator():
    assert statuses(judged("hardened", user=""))["windows.local_admins"] == "fail"
    assert statuses(judged("hardened", user="FS01\\mspctl"))["windows.local_admins"] == "pass"


def test_odd_but_documented_outputs():
    result = judged("server-odd")
    assert statuses(result) == {
        "windows.firewall": "fail",  # one profile only: Private and Public unknown
        "windows.defender_realtime": "pass",  # passive mode: another antivirus
        "windows.bitlocker_system": "fail",
        "windows.update_service": "pass",
        "windows.local_admins": "error",  # Get-LocalGroupMember failed: never a pass
        "windows.smb1_disabled": "pass",  # mrxsmb10 Start 4: disabled
        "windows.rdp_nla": "pass",  # Remote Desktop off
        "windows.screen_lock": "fail",  # 1800 s
        "windows.password_policy": "pass",
    }
    assert "Failed to compare" in result["windows.local_admins"]["actual"]
    assert result["windows.defender_realtime"]["actual"].endswith("another antivirus is primary")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(firewall="on"), "firewall"),
        (lambda d: d.update(bitlocker=["C:"]), "bitlocker"),
        (lambda d: d["rdp"].update(nla="1"), "rdp.nla"),
        (lambda d: d.update(inactivity_timeout=True), "inactivity_timeout"),
        (lambda d: d["password_policy"].update(LockoutBadCount=5.0), "LockoutBadCount"),
    ],
)
def test_a_malformed_probe_names_the_field(mutate, field):
    data = probe_output(recorded("hardened"))
    mutate(data)
    with pytest.raises(ProbeError, match=field):
        wbl.evaluate(ALL, data, "mspctl")


def run_action(args: dict[str, Any], answer: dict[str, Any]) -> tuple[dict[str, Any], int]:
    task = MagicMock()
    task.args = args
    task.async_val = 0
    action = ActionModule(task, MagicMock(), MagicMock(), MagicMock(), MagicMock(), MagicMock())
    calls = []

    def execute_module(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        assert kwargs["module_name"] == "ansible.windows.win_powershell"
        return answer

    action._execute_module = execute_module  # type: ignore[method-assign]
    return action.run(task_vars={}), len(calls)


def test_the_action_reports_read_only_with_a_summary():
    result, calls = run_action(
        {"controls": [{"id": "windows.firewall"}, {"id": "windows.rdp_nla"}]}, recorded("fresh")
    )
    assert calls == 1
    assert result["changed"] is False
    assert result["summary"] == {
        "policy": "baseline",
        "controls": 2,
        "pass": 0,
        "fail": 2,
        "error": 0,
    }


def test_a_failed_probe_is_an_error_finding_per_control_not_a_failed_task():
    failed = {"failed": True, "output": [], "error": [{"message": "Access is denied."}]}
    result, _ = run_action({"controls": [{"id": "windows.firewall"}]}, failed)
    assert "failed" not in result
    assert [(f["control_id"], f["status"], f["actual"]) for f in result["findings"]] == [
        ("windows.firewall", "error", "baseline probe: Access is denied.")
    ]


def test_no_windows_controls_runs_no_probe():
    result, calls = run_action({"controls": []}, recorded("fresh"))
    assert (calls, result["findings"]) == (0, [])


def test_a_repeated_id_fails_the_task_naming_it():
    result, calls = run_action(
        {"controls": [{"id": "windows.firewall"}, {"id": "windows.firewall"}]}, recorded("fresh")
    )
    assert (result["failed"], result["msg"], calls) == (
        True,
        "controls: repeated id windows.firewall",
        0,
    )


def test_the_clients_own_local_administrators_come_from_the_inventory():
    controls = [{"id": "windows.local_admins", "allowed": ["backup"]}]
    args = {"controls": controls, "connect_user": "mspctl"}
    result, _ = run_action(args, recorded("fresh"))
    assert "WIN11-EVAL\\tom" in result["findings"][0]["actual"]
    result, _ = run_action({**args, "local_admins": ["tom"]}, recorded("fresh"))
    assert result["findings"][0]["actual"] == "built-in Administrator enabled"
    assert "backup, tom, " in result["findings"][0]["expected"]
