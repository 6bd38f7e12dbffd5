# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small PowerShell probes on Windows hosts, judged on the controller.

An mspctl action plugin runs a short, read-only PowerShell script through
``ansible.windows.win_powershell`` (which ships with Ansible's Windows collection, so mspctl
needs no PowerShell module of its own); the script prints one JSON document
(``ConvertTo-Json -Compress``) and the action plugin hands the parsed data to a pure Python
function in ``plugins/module_utils`` that decides pass/fail and drift. Those functions are
unit-tested against recorded probe outputs (``tests/unit/plugins/action/``).
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any


class ProbeError(ValueError):
    """A probe could not run, or its output is not what the documented format says."""


def parse_date(value: Any, field: str) -> datetime.datetime | None:
    """An ISO 8601 date from PowerShell's round-trip format (``.ToString('o')``, 7 fractional
    digits) as an aware datetime; empty is None; anything else names the field."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ProbeError(f"{field}: not a date: {value!r}")
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00")
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ProbeError(f"{field}: not an ISO 8601 date: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


def strings(value: Any, field: str) -> list[str]:
    """A list of strings; ConvertTo-Json writes a one-element array as its element."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProbeError(f"{field}: not a list of strings: {value!r}")
    return list(value)


def probe_output(result: dict[str, Any]) -> Any:
    """The JSON a probe printed, from ``win_powershell``'s result; ProbeError when the
    script failed (its error records' messages) or printed something else."""
    script_errors(result)
    output = result.get("output") or []
    if len(output) != 1 or not isinstance(output[0], str):
        raise ProbeError(f"the probe printed {len(output)} objects, not one JSON text")
    try:
        return json.loads(output[0])
    except ValueError as exc:
        raise ProbeError(f"the probe's output is not JSON: {exc}") from None


def script_errors(result: dict[str, Any]) -> None:
    """ProbeError when a ``win_powershell`` run failed: its error records' messages."""
    if result.get("unreachable"):
        raise ProbeError(result.get("msg") or "unreachable")
    errors = [e.get("message") for e in result.get("error") or [] if isinstance(e, dict)]
    if result.get("failed") or errors:
        raise ProbeError("; ".join(m for m in errors if m) or result.get("msg") or "script failed")


def run_script(
    action: Any, script: str, task_vars: dict[str, Any], parameters: dict[str, Any]
) -> None:
    """Run a script that changes the host (never in check mode); ProbeError when it fails."""
    script_errors(
        action._execute_module(
            module_name="ansible.windows.win_powershell",
            module_args={"script": script, "parameters": parameters},
            task_vars=task_vars,
        )
    )


def run_probe(
    action: Any,
    script: str,
    task_vars: dict[str, Any],
    parameters: dict[str, Any] | None = None,
) -> Any:
    """Run ``script`` on the task's host from an action plugin (``action`` is its
    ``ActionModule``), with ``parameters`` bound to its ``param ()`` block; returns the parsed
    JSON or raises ProbeError."""
    args: dict[str, Any] = {"script": script}
    if parameters:
        args["parameters"] = parameters
    result = action._execute_module(
        module_name="ansible.windows.win_powershell", module_args=args, task_vars=task_vars
    )
    return probe_output(result)
