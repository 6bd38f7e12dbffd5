"""The assets policy on Windows (mspctl_winassets), from recorded probe outputs
(``probes/assets-*.json``, documented field by field in ``probes/README.md``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_winassets as wa
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    probe_output,
)

PROBES = Path(__file__).parent / "probes"
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
WARRANTY = {"purchase_date": None, "warranty_end": None, "status": "unknown", "days_left": None}


def record(name: str) -> dict[str, Any]:
    recorded = json.loads((PROBES / f"assets-{name}.json").read_text())
    return wa.asset_record(probe_output(recorded), WARRANTY)


def statuses(asset: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    params = {"warranty_tracking": False, "bitlocker_required": False, **kwargs}
    return {
        f["control_id"]: f["status"]
        for f in wa.evaluate(asset, params["warranty_tracking"], params["bitlocker_required"], NOW)
    }


def test_server_record_has_the_linux_keys_and_windows_state():
    asset = record("server")
    assert asset["vendor"] == "Dell Inc."
    assert asset["serial"] == "9XK2QH3"
    assert asset["memory_mb"] == 32640
    assert asset["cpu"] == {
        "model": "Intel(R) Xeon(R) E-2314 CPU @ 2.80GHz",
        "cores": 4,
        "threads": 4,
    }
    assert asset["os"] == {
        "name": "Microsoft Windows Server 2022 Standard",
        "version": "21H2",
        "edition": "ServerStandard",
        "build": "20348.2849",
    }
    assert [d["health"] for d in asset["disks"]] == ["Healthy", "Warning"]
    assert asset["disks"][1]["serial"] == "WD-WX12D80ABCDE"
    assert [v["protection"] for v in asset["bitlocker"]] == ["On", "Off", "Off"]
    assert statuses(asset) == {"assets.inventory_collected": "pass", "assets.antivirus": "pass"}


def test_bitlocker_required_fails_on_an_unprotected_fixed_volume_not_a_removable_one():
    findings = wa.evaluate(record("server"), False, True, NOW)
    encryption = next(f for f in findings if f["control_id"] == "assets.disk_encryption")
    assert encryption["status"] == "fail"
    assert encryption["actual"] == "unprotected: D:"


def test_eval_vm_placeholder_serial_unwrapped_lists_and_no_bitlocker():
    asset = record("eval-vm")
    assert asset["serial"] is None  # "To be filled by O.E.M."
    assert len(asset["disks"]) == 1  # one disk, unwrapped by ConvertTo-Json
    assert asset["bitlocker"] is None
    result = statuses(asset, bitlocker_required=True)
    assert result["assets.disk_encryption"] == "fail"
    assert result["assets.antivirus"] == "fail"  # real-time off, signatures 20 days old


def test_defender_in_passive_mode_passes_and_says_why():
    findings = wa.evaluate(record("passive-defender"), False, False, NOW)
    antivirus = next(f for f in findings if f["control_id"] == "assets.antivirus")
    assert antivirus["status"] == "pass"
    assert "another antivirus is primary" in antivirus["actual"]


def test_no_defender_status_is_an_error_not_a_pass():
    asset = record("server")
    asset["defender"] = None
    assert statuses(asset)["assets.antivirus"] == "error"


def test_warranty_controls_are_the_shared_ones():
    asset = record("server")
    asset["warranty"] = {"warranty_end": "2025-01-31", "status": "expired", "vendor_contract": None}
    result = statuses(asset, warranty_tracking=True)
    assert result["assets.warranty_recorded"] == "pass"
    assert result["assets.warranty_valid"] == "fail"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"computer": {"memory_bytes": "32 GB"}}, "computer.memory_bytes"),
        ({"disks": "C:"}, "disks"),
        ({"os": {"ubr": 1.5}}, "os.ubr"),
        ({"defender": True}, "defender"),
        ("x", "JSON object"),
    ],
)
def test_malformed_probe_names_the_field(data, field):
    with pytest.raises(ProbeError, match=field):
        wa.asset_record(data, WARRANTY)
