# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: recap
type: aggregate
short_description: Write each playbook run's recap and changed tasks as JSON
description:
  - For every playbook run, writes the per-host stats (ok, changed, failures, unreachable,
    skipped), the changed tasks, the playbook name and whether it ran in check mode to a new
    JSON file in the directory named by C(MSPCTL_RECAP_DIR).
  - mspctl's molecule wrapper uses it to assert that a converged host shows no change in check
    mode, from structured data rather than console text. Without the variable it does nothing.
requirements:
  - enable in callbacks_enabled (or ANSIBLE_CALLBACKS_ENABLED)
options:
  directory:
    description: Directory receiving one JSON file per playbook run.
    env:
      - name: MSPCTL_RECAP_DIR
    type: path
"""

import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_common import write_json


class CallbackModule(CallbackBase):  # type: ignore[misc]  # ansible-core ships no types
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "mspctl.policy.recap"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._changed: list[dict[str, str]] = []
        self._check_mode = False
        self._playbook: str | None = None

    def v2_playbook_on_start(self, playbook: Any) -> None:
        from ansible import context

        self._check_mode = bool(context.CLIARGS.get("check"))
        self._playbook = os.path.basename(getattr(playbook, "_file_name", "") or "playbook")

    def v2_runner_on_ok(self, result: Any) -> None:
        # CallbackTaskResult's public attributes (ansible-core 2.19+; _result, _host and _task are
        # due for deprecation in 2.23)
        if result.result.get("changed"):
            self._changed.append({"host": result.host.get_name(), "task": result.task.get_name()})

    def v2_playbook_on_stats(self, stats: Any) -> None:
        directory = self.get_option("directory")
        if not directory:
            return
        os.makedirs(directory, exist_ok=True)
        check = "-check" if self._check_mode else ""
        name = f"{time.time_ns()}-{self._playbook}{check}.json"
        data = {
            "playbook": self._playbook,
            "check_mode": self._check_mode,
            "hosts": {host: stats.summarize(host) for host in sorted(stats.processed)},
            "changed_tasks": self._changed,
        }
        write_json(os.path.join(directory, name), data)
