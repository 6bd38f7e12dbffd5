"""The patching policy's judgement on Windows (mspctl_winpatching), from recorded probe outputs
(``probes/winupdate-*.json``, documented field by field in ``probes/README.md``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_winpatching as wp
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import STATUSES
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    probe_output,
)

PROBES = Path(__file__).parent / "probes"
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
WINDOW = {"open": False, "reason": "outside window", "next_start_local": "2026-12-05T22:00+01:00"}
PARAMS: dict[str, Any] = {
    "scope": "security",
    "deferral_days": 0,
    "max_age_days": 35,
    "reboot_policy": "if_required",
    "host_class": "servers",
    "window": WINDOW,
    "reboot_window": {},
    "holds": [],
    "exclusions": [],
}


def probe(name: str) -> Any:
    recorded = json.loads((PROBES / f"winupdate-{name}.json").read_text())
    return wp.parse_probe(probe_output(recorded))


def judge(name: str, **params: Any) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    findings, status = wp.evaluate({**PARAMS, **params}, probe(name), NOW)
    assert all(f["status"] in STATUSES and f["policy"] == "patching" for f in findings)
    return {f["control_id"]: f for f in findings}, status


def test_converged_host_passes_every_control():
    findings, status = judge("converged", scope="all")
    assert {c: f["status"] for c, f in findings.items()} == {
        "patching.window": "pass",
        "patching.security_updates": "pass",
        "patching.other_updates": "pass",
        "patching.reboot_required": "pass",
        "patching.last_patch_age": "pass",
    }
    assert status["pending_security"] == status["pending_other"] == 0


def test_security_scope_judges_security_and_critical_only():
    findings, status = judge("pending")
    assert "patching.other_updates" not in findings  # silver: security/critical only
    security = findings["patching.security_updates"]
    assert security["status"] == "fail"
    assert security["actual"] == "2 pending, oldest published 52.8 days ago"
    assert status["pending_security"] == 2
    assert status["pending_other"] == 2  # the definition update and the MSRT, reported
    ages = status["pending_ages_days"]
    assert ages["Windows Malicious Software Removal Tool x64 - v5.131 (KB890830)"] == pytest.approx(
        17.8
    )


def test_all_scope_adds_the_other_updates():
    findings, _ = judge("pending", scope="all")
    assert findings["patching.other_updates"]["status"] == "fail"


def test_deferral_lets_young_updates_pass():
    findings, _ = judge("pending", deferral_days=60)
    assert findings["patching.security_updates"]["status"] == "pass"
    findings, _ = judge("pending", deferral_days=30)
    assert findings["patching.security_updates"]["status"] == "fail"  # the October .NET one


def test_holds_by_kb_and_title_are_reported_not_failed():
    findings, status = judge("pending", holds=["KB5046616"], exclusions=[r"\.NET Framework"])
    assert findings["patching.security_updates"]["status"] == "pass"
    assert status["pending_held"] == 2
    assert findings["patching.security_updates"]["evidence"]["held"][0].startswith("2026-10")


def test_last_patch_age_counts_the_last_install_when_something_is_pending():
    findings, status = judge("pending", max_age_days=45)
    assert findings["patching.last_patch_age"]["status"] == "pass"
    assert status["last_patch_age_days"] == pytest.approx(40.55, abs=0.01)
    findings, _ = judge("pending")  # 35 days
    assert findings["patching.last_patch_age"]["status"] == "fail"
    assert findings["patching.last_patch_age"]["actual"] == "40.6 days ago"


def test_nothing_pending_counts_the_last_search():
    findings, _ = judge("converged", max_age_days=5)
    assert findings["patching.last_patch_age"]["status"] == "pass"  # searched this morning


def test_single_update_unwrapped_by_convertto_json_and_pending_reboot():
    findings, status = judge("reboot-pending")
    assert status["pending_security"] == 1
    assert findings["patching.reboot_required"]["status"] == "fail"
    assert findings["patching.last_patch_age"]["actual"] == "never"
    assert findings["patching.last_patch_age"]["status"] == "fail"


def test_a_failed_probe_is_an_error_not_a_pass():
    recorded = json.loads((PROBES / "winupdate-service-disabled.json").read_text())
    with pytest.raises(ProbeError, match="0x80070422") as caught:
        probe_output(recorded)
    findings, status = wp.evaluate(PARAMS, caught.value, NOW)
    assert [f["status"] for f in findings] == ["pass", "error", "error", "error"]
    assert status["error"] == "Exception from HRESULT: 0x80070422"


def test_no_window_for_the_host_class_fails_the_window_control():
    findings, _ = judge("converged", host_class="", window={})
    assert findings["patching.window"]["status"] == "fail"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"updates": "x", "reboot_required": False}, "updates"),
        ({"updates": [{"kb": []}], "reboot_required": False}, r"updates\[0\].title"),
        (
            {"updates": [{"title": "t", "published": "12/11/2026"}], "reboot_required": False},
            r"updates\[0\].published",
        ),
        (
            {"updates": [{"title": "t", "reboot_behavior": 3}], "reboot_required": False},
            r"updates\[0\].reboot_behavior",
        ),
        ({"updates": [], "reboot_required": "False"}, "reboot_required"),
        ([], "JSON object"),
    ],
)
def test_malformed_probe_names_the_field(data, field):
    with pytest.raises(ProbeError, match=field):
        wp.parse_probe(data)


@pytest.mark.parametrize(
    ("output", "message"),
    [([], "printed 0 objects"), (["not json"], "not JSON"), ([{"a": 1}], "printed 1 objects")],
)
def test_probe_output_that_is_not_one_json_text(output, message):
    with pytest.raises(ProbeError, match=message):
        probe_output({"output": output, "error": []})


@pytest.mark.parametrize(
    ("policy", "required", "installed", "needs", "due"),
    [
        ("never", True, True, True, False),
        ("if_required", False, True, False, False),
        ("if_required", False, True, True, True),
        ("if_required", True, False, False, True),
        ("always", False, True, False, True),
        ("always", False, False, False, False),
    ],
)
def test_reboot_due_by_policy(policy, required, installed, needs, due):
    assert wp.reboot_due(policy, required, installed, needs) is due


def test_scope_maps_to_win_updates_categories():
    assert wp.CATEGORY_NAMES == {"security": ["SecurityUpdates", "CriticalUpdates"], "all": ["*"]}
