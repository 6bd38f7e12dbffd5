"""Installed programs in the Windows asset record (mspctl_winassets.installed_programs), from
recorded probe outputs (``tests/fixtures/windows/assets-programs*.json``, documented field by
field in ``tests/fixtures/windows/README.md``), and through the action plugin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from ansible_collections.mspctl.policy.plugins.action.win_asset_facts import ActionModule
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_winassets as wa
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    probe_output,
)

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "windows"
WARRANTY = {"purchase_date": None, "warranty_end": None, "status": "unknown", "days_left": None}


def recorded(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def record(name: str) -> dict[str, Any]:
    return wa.asset_record(probe_output(recorded(name)), WARRANTY)


def test_what_apps_and_features_lists_once_each_sorted():
    packages = record("assets-programs")["packages"]
    assert packages["manager"] == "windows-uninstall"
    # left out: a system component (twice), an update with a parent key, a hotfix by its
    # release type, a security update, a key without a display name
    assert [p["name"] for p in packages["programs"]] == [
        "7-Zip 24.09 (x64 edition)",
        "7-Zip 24.09 (x64)",
        "Mozilla Firefox (x86 en-US)",
        "Sophos Endpoint Agent",
        "Veeam Agent for Microsoft Windows",
    ]
    assert packages["count"] == 5
    assert packages["digest"].startswith("sha256:") and len(packages["digest"]) == 71


def test_program_fields_are_normalised():
    programs = {p["name"]: p for p in record("assets-programs")["packages"]["programs"]}
    msi = programs["7-Zip 24.09 (x64 edition)"]
    assert msi == {
        "name": "7-Zip 24.09 (x64 edition)",
        "version": "24.09.00.0",
        "publisher": "Igor Pavlov",
        "installed": "2026-10-02",  # InstallDate yyyyMMdd
        "architecture": "x64",
        "msi_product_code": "{23170F69-40C1-2702-2409-000001000000}",
    }
    assert programs["Mozilla Firefox (x86 en-US)"]["architecture"] == "x86"  # WOW6432Node
    assert programs["7-Zip 24.09 (x64)"]["msi_product_code"] is None  # an EXE installer's key
    # an installer's own date format, and a month 13: unknown, not an error
    assert programs["Veeam Agent for Microsoft Windows"]["installed"] is None
    assert programs["Sophos Endpoint Agent"]["installed"] is None
    assert programs["Veeam Agent for Microsoft Windows"]["msi_product_code"] is None  # _is1


def test_the_same_key_in_both_views_counts_once():
    packages = record("assets-programs-both-views")["packages"]
    assert packages["count"] == 1
    assert packages["programs"][0]["name"] == "Notepad++ (32-bit x86)"


def test_not_collected_is_null_as_before():
    # the recorded outputs of the probe without $Programs have no programs key
    assert record("assets-programs")["packages"] is not None
    data = probe_output(recorded("assets-programs"))
    del data["programs"]
    assert wa.asset_record(data, WARRANTY)["packages"] is None


def test_the_digest_changes_with_a_version_and_not_with_order():
    data = probe_output(recorded("assets-programs"))
    first = wa.installed_programs(data["programs"])
    assert first is not None
    assert wa.installed_programs(list(reversed(data["programs"]))) == first
    data["programs"][0]["version"] = "24.10"
    changed = wa.installed_programs(data["programs"])
    assert changed is not None and changed["digest"] != first["digest"]


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"view": "Registry64", "name": ["x"]}, r"programs\[0\]\.name"),
        ({"view": "Registry64", "name": "x", "system_component": "1"}, "system_component"),
        ({"view": "HKCU", "name": "x"}, r"programs\[0\]\.view"),
        ({"view": "Registry32", "name": "x", "version": {"major": 1}}, "version"),
    ],
)
def test_a_malformed_entry_names_its_field(entry, field):
    with pytest.raises(ProbeError, match=field):
        wa.installed_programs([entry])


def test_the_action_asks_the_probe_for_programs_only_when_told():
    calls: list[dict[str, Any]] = []

    def run(args: dict[str, Any]) -> dict[str, Any]:
        task = MagicMock()
        task.args = args
        task.async_val = 0
        action = ActionModule(task, MagicMock(), MagicMock(), MagicMock(), MagicMock(), MagicMock())

        def execute_module(**kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs["module_args"])
            return recorded("assets-programs")

        action._execute_module = execute_module  # type: ignore[method-assign]
        return action.run(task_vars={})

    result = run({})
    assert result["asset"]["packages"]["count"] == 5
    inventory = result["findings"][0]
    assert inventory["control_id"] == "assets.inventory_collected"
    assert inventory["evidence"]["packages"] == 5
    run({"collect_packages": False})
    assert [c["parameters"] for c in calls] == [{"Programs": True}, {"Programs": False}]
