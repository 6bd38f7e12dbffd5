"""The patching policy's status module, mspctl_patch_status: its controls and figures.

Pending updates come from a fake apt reader, the run record and first-seen times are files in
a temporary state directory, the reboot flag lives under tmp_path. The module also runs through
``main()`` in check mode: read-only, ``changed: false``, and the same findings twice.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_patching as pu
from ansible_collections.mspctl.policy.plugins.modules import patch_status as status_module
from ansible_collections.mspctl.policy.tests.unit.plugins.modules.helper import (
    FINDING_KEYS,
    run_module,
)

NOW = dt.datetime(2026, 12, 9, 12, 0, tzinfo=dt.UTC)
WINDOW = {
    "open": False,
    "reason": "outside window",
    "timezone": "Europe/Paris",
    "next_start": "2026-12-12T21:00:00+00:00",
    "next_start_local": "2026-12-12T22:00:00+01:00",
    "current": None,
}


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(pu, "REBOOT_REQUIRED_FILE", str(tmp_path / "reboot-required"))
    monkeypatch.setattr(pu, "REBOOT_REQUIRED_PKGS", str(tmp_path / "reboot-required.pkgs"))
    directory = tmp_path / "state"
    directory.mkdir()
    return directory


def params(state: Path, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "scope": "security",
        "deferral_days": 0,
        "max_age_days": 35,
        "reboot_policy": "if_required",
        "host_class": "servers",
        "window": WINDOW,
        "reboot_window": {},
        "now": None,
        "state_dir": str(state),
    }
    values.update(overrides)
    return values


def packages(*updates: Any) -> tuple[dict[str, Any], list[Any]]:
    return {}, list(updates)


SEC = pu.Update("openssl", "3.0.20", "3.0.22", "3.0.22")
OTHER = pu.Update("tzdata", "2026b", "2026f", None)
HELD = pu.Update("postgresql-15", "15.8", "15.9", "15.9", held=True)


def write(state: Path, name: str, data: dict[str, Any]) -> None:
    (state / name).write_text(json.dumps(data))


def evaluate(state: Path, pkgs: Any, **overrides: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    findings, status = status_module.evaluate(
        params(state, **overrides),
        pkgs,
        NOW,
        boot=NOW - dt.timedelta(days=3),
        current_boot_id="boot-2",
    )
    for finding in findings:
        assert set(finding) == FINDING_KEYS and finding["policy"] == "patching"
    return {f["control_id"]: f for f in findings}, status


def test_a_patched_host_passes_every_control(state: Path) -> None:
    write(
        state,
        "last-run.json",
        {
            "last_run": "2026-12-05T21:40:00+00:00",
            "last_upgrade": "2026-12-05T21:40:00+00:00",
            "upgrade_boot_id": "boot-1",
            "holds": ["postgresql-15"],
        },
    )
    findings, status = evaluate(state, packages(HELD))
    assert {c: f["status"] for c, f in findings.items()} == {
        "patching.window": "pass",
        "patching.security_updates": "pass",
        "patching.reboot_required": "pass",
        "patching.last_patch_age": "pass",
    }
    assert status["pending_security"] == 0 and status["pending_held"] == 1
    assert status["pending"]["held"] == ["postgresql-15"] and status["holds"] == ["postgresql-15"]
    assert status["last_patch_age_days"] == 3.6
    assert status["window"]["next_start_local"] == "2026-12-12T22:00:00+01:00"
    assert not status["reboot_required"] and not status["reboot_due"]


@pytest.mark.parametrize(
    ("deferral", "first_seen", "expected"),
    [
        (0, None, "fail"),  # deferral 0: pending at all is a failure
        (7, "2026-12-06T12:00:00+00:00", "pass"),  # 3 days < 7
        (7, "2026-12-01T12:00:00+00:00", "fail"),  # 8 days >= 7
        (7, None, "pass"),  # never seen before: seen now
    ],
)
def test_security_updates_fail_once_pending_beyond_the_deferral(
    state: Path, deferral: int, first_seen: str | None, expected: str
) -> None:
    if first_seen:
        write(state, "pending-seen.json", {"openssl=3.0.22": first_seen})
    findings, status = evaluate(state, packages(SEC, OTHER, HELD), deferral_days=deferral)
    finding = findings["patching.security_updates"]
    assert finding["status"] == expected
    assert finding["evidence"]["packages"] == ["openssl"]
    assert finding["evidence"]["held"] == ["postgresql-15"]
    assert "patching.other_updates" not in findings  # scope security
    assert (status["pending_security"], status["pending_other"]) == (1, 1)


def test_scope_all_adds_the_other_updates_control(state: Path) -> None:
    findings, _status = evaluate(state, packages(OTHER), scope="all")
    assert findings["patching.other_updates"]["status"] == "fail"
    assert findings["patching.other_updates"]["evidence"]["packages"] == ["tzdata"]
    assert findings["patching.security_updates"]["status"] == "pass"


def test_no_window_a_pending_reboot_and_no_patch_run_fail(state: Path) -> None:
    (state.parent / "reboot-required").write_text("*** System restart required ***\n")
    (state.parent / "reboot-required.pkgs").write_text("libc6\n")
    findings, status = evaluate(state, packages(), host_class="", window={})
    assert findings["patching.window"]["status"] == "fail"
    assert findings["patching.window"]["actual"] == "no window for this host class"
    assert findings["patching.reboot_required"]["status"] == "fail"
    assert findings["patching.reboot_required"]["evidence"]["packages"] == ["libc6"]
    assert findings["patching.last_patch_age"]["actual"] == "never"
    assert findings["patching.last_patch_age"]["status"] == "fail"
    assert status["window"] is None and status["reboot_required"]


def test_policy_always_fails_until_the_host_rebooted_after_an_upgrade(state: Path) -> None:
    write(
        state,
        "last-run.json",
        {
            "last_run": "2026-12-09T11:00:00+00:00",
            "last_upgrade": "2026-12-09T11:00:00+00:00",
            "upgrade_boot_id": "boot-2",
        },
    )
    findings, status = evaluate(state, packages(), reboot_policy="always")
    assert findings["patching.reboot_required"]["status"] == "fail"
    assert status["reboot_due"] and not status["reboot_required"]
    findings, _status = evaluate(state, packages(), reboot_policy="if_required")
    assert findings["patching.reboot_required"]["status"] == "pass"


def test_an_unreadable_apt_is_an_error_not_a_failure(state: Path) -> None:
    findings, status = evaluate(
        state, pu.PatchingError("python3-apt is not installed"), scope="all"
    )
    assert findings["patching.security_updates"]["status"] == "error"
    assert findings["patching.other_updates"]["actual"] == "python3-apt is not installed"
    assert status["pending_security"] == 0


def test_main_is_read_only_and_repeatable(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Reader:
        def __init__(self, module: Any, state_dir: str, **_kw: Any) -> None:
            pass

        def packages(self) -> tuple[dict[str, Any], list[Any]]:
            return packages(SEC)

    monkeypatch.setattr(status_module, "AptBackend", Reader)
    before = sorted(p.name for p in state.parent.rglob("*"))
    args = {
        "state_dir": str(state),
        "host_class": "servers",
        "window": WINDOW,
        "now": "2026-12-09T13:00:00+01:00",
    }
    outputs = [run_module(status_module, args, check=True) for _ in range(2)]
    assert not outputs[0].get("failed")
    assert outputs[0]["changed"] is False
    assert outputs[0]["findings"] == outputs[1]["findings"]
    assert outputs[0]["status"]["pending"]["security"] == ["openssl"]
    assert sorted(p.name for p in state.parent.rglob("*")) == before

    result = run_module(status_module, dict(args, now="yesterday"), check=True)
    assert result["failed"]
    assert "not an ISO 8601" in result["msg"]
