"""The ``mspctl.policy.win_backup_status`` action plugin on the controller: what it runs on the
host (through ``ansible.windows.win_powershell``, here answered by recorded results in place of
``_execute_module``) and when, in check mode and not."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
import time_machine
from ansible_collections.mspctl.policy.plugins.action.win_backup_status import ActionModule
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winbackup import (
    BACKUP_NOW,
    PROBE,
    RESTORE_TEST,
)

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "windows"
ARGS = {
    "host": "fileserver",
    "repository": "rest:https://backup.example.net:8000/acme/fileserver",
    "max_age_hours": 26,
    "restore_test_interval_days": 7,
}
NAMES = {PROBE: "probe", BACKUP_NOW: "backup", RESTORE_TEST: "restore_test"}
# The recorded probes are judged at noon (UTC) of the day they were recorded: the converged
# host's last snapshot is then 12 h old and its restore test 6 days old.
RECORDED_ON = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _recorded_day():
    with time_machine.travel(RECORDED_ON, tick=False):
        yield


def run_action(
    probes: list[str], check_mode: bool = False, script_result: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Run the action; each probe answers with the next recorded output of ``probes``."""
    task = MagicMock()
    task.args = dict(ARGS)
    task.async_val = 0
    task.check_mode = check_mode
    action = ActionModule(task, MagicMock(), MagicMock(), MagicMock(), MagicMock(), MagicMock())
    calls: list[str] = []
    answers = iter(probes)

    def execute_module(**kwargs: Any) -> dict[str, Any]:
        assert kwargs["module_name"] == "ansible.windows.win_powershell"
        name = NAMES[kwargs["module_args"]["script"]]
        calls.append(name)
        if name != "probe":
            return script_result or {"changed": True, "output": [], "error": []}
        # (the probe's parameters: where, which task, which host)
        assert kwargs["module_args"]["parameters"]["HostName"] == "fileserver"
        return json.loads((FIXTURES / f"backup-{next(answers)}.json").read_text())

    action._execute_module = execute_module  # type: ignore[method-assign]
    return action.run(task_vars={}), calls


def test_a_converged_host_only_probes_and_changes_nothing():
    result, calls = run_action(["converged"])
    assert calls == ["probe"]
    assert (result["changed"], result["due"], result["ran"]) == (False, [], [])
    assert {f["status"] for f in result["findings"]} == {"pass"}


def test_a_stale_host_runs_the_backup_and_the_failed_restore_test_again():
    result, calls = run_action(["stale", "stale", "converged"])
    assert calls == ["probe", "backup", "probe", "restore_test", "probe"]
    assert result["changed"] is True
    assert result["ran"] == ["backup", "restore_test"]
    assert {f["status"] for f in result["findings"]} == {"pass"}  # judged after the runs


def test_check_mode_runs_nothing_and_reports_what_is_due_as_the_change():
    result, calls = run_action(["stale"], check_mode=True)
    assert calls == ["probe"]
    assert (result["changed"], result["due"], result["ran"]) == (
        True,
        ["backup", "restore_test"],
        [],
    )


def test_a_fresh_host_in_check_mode_has_nothing_to_run_yet():
    result, calls = run_action(["fresh"], check_mode=True)
    assert calls == ["probe"]
    assert (result["changed"], result["due"]) == (False, [])


def test_a_new_repository_is_backed_up_then_restore_tested():
    result, calls = run_action(["no-repository", "first-run", "converged"])
    assert calls == ["probe", "backup", "probe", "restore_test", "probe"]
    assert result["ran"] == ["backup", "restore_test"]


def test_a_failing_script_is_reported_in_the_findings_not_a_traceback():
    failed = {
        "changed": True,
        "failed": True,
        "output": [],
        "error": [{"message": "Access is denied."}],
    }
    result, calls = run_action(["stale"], script_result=failed)
    assert calls == ["probe", "backup"]
    assert {f["status"] for f in result["findings"]} == {"error"}
    assert result["findings"][0]["actual"] == "backup probe: Access is denied."
