# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``mspctl.policy.win_backup_status``: probe restic and the backup scheduled
task on the Windows host, run the backup and the restore test when they are due, and judge the
backup_agent controls on the controller (``plugins/module_utils/mspctl_winbackup.py``)."""

from __future__ import annotations

import datetime
from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winbackup import (
    BACKUP_NOW,
    PROBE,
    RESTORE_TEST,
    backup_due,
    evaluate,
    parse_probe,
    restore_due,
    restore_record,
)
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    run_probe,
    run_script,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "host": {"type": "str", "required": True},
    "repository": {"type": "str", "required": True},
    "dir": {"type": "str", "default": "C:\\ProgramData\\mspctl\\backup"},
    "task_path": {"type": "str", "default": "\\mspctl\\"},
    "task_name": {"type": "str", "default": "mspctl-backup"},
    "max_age_hours": {"type": "int", "required": True},
    "restore_test_interval_days": {"type": "int", "required": True},
    "sample_size": {"type": "int", "default": 10},
    "max_file_bytes": {"type": "int", "default": 64 * 1024 * 1024},
    "restore_test_force": {"type": "bool", "default": False},
    "backup_on_converge": {"type": "bool", "default": True},
    "backup_wait_minutes": {"type": "int", "default": 240},
}


class ActionModule(ActionBase):  # type: ignore[misc]  # ansible ships no type hints
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        task_vars = task_vars or {}
        now = datetime.datetime.now(datetime.timezone.utc)
        check_mode = bool(self._task.check_mode)
        ran: list[str] = []
        due: list[str] = []
        try:
            probe = self._probe(params, task_vars)
            if params["backup_on_converge"] and backup_due(probe, params["max_age_hours"], now):
                due.append("backup")
                if not check_mode:
                    # a failed backup is not a failed task: last_run reports it with restic's
                    # message, as the Linux role does
                    run_script(
                        self,
                        BACKUP_NOW,
                        task_vars,
                        {
                            "TaskPath": params["task_path"],
                            "TaskName": params["task_name"],
                            "WaitMinutes": params["backup_wait_minutes"],
                        },
                    )
                    ran.append("backup")
                    probe = self._probe(params, task_vars)
            record = restore_record(probe.get("restore_test"))
            can_test = probe.get("config") and probe.get("restic") is not None
            if can_test and (
                params["restore_test_force"]
                or restore_due(record, params["restore_test_interval_days"], now)
            ):
                due.append("restore_test")
                if not check_mode:
                    run_script(
                        self,
                        RESTORE_TEST,
                        task_vars,
                        {
                            "Dir": params["dir"],
                            "HostName": params["host"],
                            "SampleSize": params["sample_size"],
                            "MaxFileBytes": params["max_file_bytes"],
                        },
                    )
                    ran.append("restore_test")
                    probe = self._probe(params, task_vars)
        except ProbeError as exc:
            findings, status = evaluate(
                exc,
                params["host"],
                params["repository"],
                params["max_age_hours"],
                params["restore_test_interval_days"],
                now,
            )
            return {
                **result,
                "changed": bool(ran),
                "ran": ran,
                "findings": findings,
                "status": status,
            }
        findings, status = evaluate(
            probe,
            params["host"],
            params["repository"],
            params["max_age_hours"],
            params["restore_test_interval_days"],
            datetime.datetime.now(datetime.timezone.utc),
        )
        # in check mode what is due is the change a converge would make, as on Linux
        return {
            **result,
            "changed": bool(ran or (check_mode and due)),
            "due": due,
            "ran": ran,
            "findings": findings,
            "status": status,
        }

    def _probe(self, params: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        return parse_probe(
            run_probe(
                self,
                PROBE,
                task_vars,
                {
                    "Dir": params["dir"],
                    "TaskPath": params["task_path"],
                    "TaskName": params["task_name"],
                    "HostName": params["host"],
                },
            )
        )
