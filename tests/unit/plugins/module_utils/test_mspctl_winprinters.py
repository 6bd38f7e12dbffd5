"""The printers policy on Windows: planning on the controller (mspctl_winprinters) and the
``win_print_queues`` action plugin with recorded probes: a change, check + diff that writes
nothing, an idempotent ``changed: false``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from ansible_collections.mspctl.policy.plugins.action.win_print_queues import ActionModule
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_winprinters as wpr
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import probe_output

PROBES = Path(__file__).parent / "probes"
OFFICE = {
    "name": "office",
    "uri": "socket://192.0.2.40:9100",
    "driver": "Microsoft PCL6 Class Driver",
    "location": "First floor",
    "description": "Office laser",
}


def current(name: str) -> dict[str, Any]:
    return wpr.parse_probe(probe_output(json.loads((PROBES / f"printers-{name}.json").read_text())))


def run_action(
    args: dict[str, Any], probes: list[str], *, check: bool = False, diff: bool = True
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    task = MagicMock()
    task.args = args
    task.async_val = 0
    play_context = MagicMock()
    play_context.check_mode = check
    play_context.diff = diff
    action = ActionModule(task, MagicMock(), play_context, MagicMock(), MagicMock(), MagicMock())
    calls: list[dict[str, Any]] = []
    answers = iter(probes)

    def execute_module(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs["module_args"])
        if "parameters" in kwargs["module_args"]:  # the apply script
            return {"changed": True, "output": [], "error": []}
        return json.loads((PROBES / f"printers-{next(answers)}.json").read_text())

    action._execute_module = execute_module
    return action.run(task_vars={}), calls


def test_fresh_host_gets_driver_port_and_queue_in_order():
    actions, before, after = wpr.plan(current("fresh"), wpr.desired([OFFICE], False), False)
    assert [a["op"] for a in actions] == ["add_driver", "add_port", "add_printer"]
    assert actions[1] == {
        "op": "add_port",
        "name": "mspctl_192.0.2.40_9100",
        "host": "192.0.2.40",
        "port": 9100,
        "lpr_queue": None,
    }
    assert before == {}
    assert after["office"]["port"] == "mspctl_192.0.2.40_9100"


def test_apply_then_reread_reports_the_new_state():
    result, calls = run_action({"queues": [OFFICE]}, ["fresh", "converged"])
    assert result["changed"] is True
    assert len(calls) == 3  # probe, apply, probe again
    applied = json.loads(calls[1]["parameters"]["Actions"])
    assert [a["op"] for a in applied] == ["add_driver", "add_port", "add_printer"]
    assert {f["control_id"]: f["status"] for f in result["findings"]} == {
        "printers.queue_present.office": "pass",
        "printers.device_uri.office": "pass",
    }
    assert result["diff"]["before"] == {}


def test_check_mode_writes_nothing_and_reports_the_host_as_it_is():
    result, calls = run_action({"queues": [OFFICE]}, ["fresh"], check=True)
    assert result["changed"] is True
    assert len(calls) == 1  # the probe only
    assert "office" in result["diff"]["after"]
    assert {f["status"] for f in result["findings"]} == {"fail"}


def test_converged_host_is_idempotent():
    result, calls = run_action({"queues": [OFFICE]}, ["converged"])
    assert result["changed"] is False
    assert result["actions"] == []
    assert "diff" not in result
    assert len(calls) == 1


def test_drift_in_location_is_a_set_with_a_diff():
    moved = {**OFFICE, "location": "Second floor"}
    result, _ = run_action({"queues": [moved]}, ["converged", "converged"], check=True)
    assert [a["op"] for a in result["actions"]] == ["set_printer"]
    assert result["diff"]["before"]["office"]["location"] == "First floor"
    assert result["diff"]["after"]["office"]["location"] == "Second floor"


def test_remove_unlisted_touches_tcp_queues_only():
    actions, before, _ = wpr.plan(current("converged"), wpr.desired([OFFICE], False), True)
    assert actions == [{"op": "remove_printer", "name": "old-plotter"}]
    assert list(before) == ["office", "old-plotter"]  # never Microsoft Print to PDF


def test_absent_queue_is_removed_and_reported():
    want = wpr.desired([{"name": "old-plotter", "state": "absent"}], False)
    actions, _, _ = wpr.plan(current("converged"), want, False)
    assert actions == [{"op": "remove_printer", "name": "old-plotter"}]
    findings = wpr.evaluate(
        current("fresh"), [{"name": "old-plotter", "state": "absent"}], want, False
    )
    assert findings[0]["control_id"] == "printers.queue_absent.old-plotter"
    assert findings[0]["status"] == "pass"


def test_shared_only_with_sharing():
    shared = {**OFFICE, "shared": True}
    assert wpr.desired([shared], False)["printers"]["office"]["shared"] is False
    assert wpr.desired([shared], True)["printers"]["office"]["shared"] is True


@pytest.mark.parametrize(
    ("queue", "message"),
    [
        ({**OFFICE, "uri": "ipp://192.0.2.40/ipp/print"}, "queue office: uri: device URI"),
        ({**OFFICE, "driver": None}, "queue office: driver: a Windows driver name is required"),
    ],
)
def test_what_windows_cannot_do_fails_naming_the_queue(queue, message):
    result, calls = run_action({"queues": [queue]}, [])
    assert result["failed"] is True
    assert result["msg"].startswith(message)
    assert calls == []


def test_lpd_uri_maps_to_an_lpr_port():
    assert wpr.port_of("lpd://192.0.2.41/PASSTHRU") == {
        "name": "mspctl_192.0.2.41_lpr_PASSTHRU",
        "host": "192.0.2.41",
        "port": 515,
        "lpr_queue": "PASSTHRU",
    }
