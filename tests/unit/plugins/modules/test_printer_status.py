"""mspctl_printer_status: findings for a scheduler in memory; read-only, check mode included."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.modules import printer_status as mod
from ansible_collections.mspctl.policy.tests.unit.plugins.modules.cups_fake import (
    FakeCups,
    queue,
    run_module,
)
from ansible_collections.mspctl.policy.tests.unit.plugins.modules.helper import FINDING_KEYS

SINK = "socket://10.0.0.1:9101"
QUEUES = [
    {"name": "lab-raw", "uri": SINK, "driver": "raw", "default": True},
    {"name": "lab-ps", "uri": SINK, "driver": "drv:///sample.drv/generic.ppd"},
    {"name": "old", "state": "absent"},
]
ARGS = {"queues": QUEUES, "remove_unlisted": True, "sharing": False}


def by_id(result: dict[str, Any]) -> dict[str, str]:
    return {f["control_id"]: f["status"] for f in result["findings"]}


def converged() -> FakeCups:
    return FakeCups(
        {
            "lab-raw": queue(SINK, default=True),
            "lab-ps": queue(SINK, make_and_model="Generic PostScript Printer"),
        }
    )


@pytest.mark.parametrize("check", [False, True])
def test_converged_host_passes_every_control(check: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = converged()
    result = run_module(mod, fake, monkeypatch, ARGS, check=check)
    assert result["changed"] is False
    assert by_id(result) == {
        "printers.scheduler": "pass",
        "printers.queue_present.lab-raw": "pass",
        "printers.queue_enabled.lab-raw": "pass",
        "printers.device_uri.lab-raw": "pass",
        "printers.queue_present.lab-ps": "pass",
        "printers.queue_enabled.lab-ps": "pass",
        "printers.device_uri.lab-ps": "pass",
        "printers.queue_absent.old": "pass",
        "printers.default": "pass",
        "printers.unlisted": "pass",
        "printers.sharing": "pass",
    }
    assert result["status"] == {
        "scheduler": "running",
        "queues_expected": 2,
        "queues_present": 2,
        "queues_enabled": 2,
        "queues": ["lab-ps", "lab-raw"],
        "default": "lab-raw",
        "sharing": False,
        "unlisted": [],
    }
    assert fake.writes() == []
    for finding in result["findings"]:
        assert set(finding) == FINDING_KEYS
        assert finding["policy"] == "printers"


def test_drift_is_reported_as_failing_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCups(
        {
            "lab-raw": queue("socket://10.0.0.9:9100", enabled=False),
            "old": queue(SINK, default=True),
            "hand-made": queue(SINK),
        },
        sharing=True,
    )
    result = run_module(mod, fake, monkeypatch, ARGS)
    assert result["changed"] is False
    assert "failed" not in result
    findings = {f["control_id"]: f for f in result["findings"]}
    assert {k: f["status"] for k, f in findings.items() if f["status"] != "pass"} == {
        "printers.queue_enabled.lab-raw": "fail",
        "printers.device_uri.lab-raw": "fail",
        "printers.queue_present.lab-ps": "fail",
        "printers.queue_enabled.lab-ps": "fail",
        "printers.device_uri.lab-ps": "fail",
        "printers.queue_absent.old": "fail",
        "printers.default": "fail",
        "printers.unlisted": "fail",
        "printers.sharing": "fail",
    }
    assert findings["printers.queue_enabled.lab-raw"]["actual"] == "disabled, accepting jobs"
    assert findings["printers.device_uri.lab-raw"]["expected"] == SINK
    assert findings["printers.unlisted"]["actual"] == ["hand-made"]  # "old" is listed absent
    assert findings["printers.default"]["actual"] == "old"
    assert findings["printers.sharing"]["actual"] == "published to the network"
    assert result["status"]["queues_present"] == 1
    assert result["status"]["queues_enabled"] == 0


def test_scheduler_down_is_an_error_not_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_module(
        mod, FakeCups(running=False, installed=False), monkeypatch, ARGS, check=True
    )
    assert "failed" not in result
    statuses = by_id(result)
    assert statuses.pop("printers.scheduler") == "fail"
    assert set(statuses.values()) == {"error"}
    assert result["status"]["scheduler"] == "unreachable"


def test_only_what_is_asked_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCups({"lab": queue(SINK), "hand-made": queue(SINK)}, sharing=True)
    result = run_module(mod, fake, monkeypatch, {"queues": [{"name": "LAB", "uri": SINK}]})
    assert by_id(result) == {
        "printers.scheduler": "pass",
        "printers.queue_present.LAB": "pass",
        "printers.queue_enabled.LAB": "pass",
        "printers.device_uri.LAB": "pass",
    }
    assert fake.calls == []  # sharing not asked: cupsctl not even read


def test_temporary_queues_are_not_unlisted(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = converged()
    fake.queues["HP_Found"] = queue("ipp://10.0.0.3/ipp/print", temporary=True)
    result = run_module(mod, fake, monkeypatch, ARGS)
    assert by_id(result)["printers.unlisted"] == "pass"


def test_a_host_without_queues_passes_without_cups(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCups(running=False, installed=False)
    result = run_module(
        mod,
        fake,
        monkeypatch,
        {"queues": [{"name": "old", "state": "absent"}], "remove_unlisted": True, "sharing": False},
    )
    assert by_id(result) == {
        "printers.scheduler": "pass",
        "printers.queue_absent.old": "pass",
        "printers.unlisted": "pass",
        "printers.sharing": "pass",
    }
    assert result["findings"][0]["expected"] == "not needed (no queue)"
    assert result["status"]["scheduler"] == "not needed"
    # asked to share, CUPS is needed again
    shared = run_module(mod, fake, monkeypatch, {"queues": [], "sharing": True})
    assert by_id(shared)["printers.scheduler"] == "fail"
