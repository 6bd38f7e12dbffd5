"""mspctl_backup_status: the four controls pass on a healthy host and fail with evidence when the
backup is old, missing or unreadable, the restore test failed or is stale, the last run failed or
the timer is off; read-only (changed: false, nothing written), the same in check mode."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_restic as restic
from ansible_collections.mspctl.policy.plugins.modules import backup_status as mod
from ansible_collections.mspctl.policy.tests.unit.plugins.modules.helper import FINDING_KEYS
from ansible_collections.mspctl.policy.tests.unit.plugins.modules.restic_fake import (
    SYSTEMCTL_SHOW_OK,
    FakeRestic,
    run_module,
)

HOST = "web01"
PASSWORD = "correct horse battery staple"


def iso(ago_seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - ago_seconds))


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a\n")
    fake = FakeRestic(password=PASSWORD)
    snap = fake.take(HOST, [str(src)], when=time.time() - 3 * 3600)
    state = tmp_path / "state"
    state.mkdir()
    record = {
        "result": "pass",
        "at": iso(86400),
        "snapshot": snap.id[:8],
        "files": 10,
        "bytes": 4096,
        "checksums_match": True,
        "mismatches": [],
        "error": None,
        "sample": ["/etc/hosts"],
    }
    (state / "restore-test.json").write_text(json.dumps(record))
    (state / "status.json").write_text(
        json.dumps({"last_run": {"at": iso(3 * 3600), "result": "ok", "snapshot": snap.id[:8]}})
    )
    args = {
        "repository": "sftp:restic@nas:/srv/restic/acme/web01",
        "password": PASSWORD,
        "host": HOST,
        "max_age_hours": 26,
        "restore_test_interval_days": 7,
        "result_file": str(state / "restore-test.json"),
        "status_file": str(state / "status.json"),
    }
    return {"fake": fake, "args": args, "state": state, "snap": snap}


def by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["control_id"]: f for f in result["findings"]}


def statuses(result: dict[str, Any]) -> dict[str, str]:
    return {k: v["status"] for k, v in by_id(result).items()}


ALL_PASS = {
    "backup_agent.snapshot_age": "pass",
    "backup_agent.restore_test": "pass",
    "backup_agent.last_run": "pass",
    "backup_agent.timer": "pass",
}


@pytest.mark.parametrize("check", [False, True])
def test_a_healthy_host_passes_every_control(
    world: dict[str, Any], check: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {p.name: p.read_text() for p in world["state"].iterdir()}
    result = run_module(mod, world["fake"], monkeypatch, world["args"], check=check)
    assert result["changed"] is False
    assert statuses(result) == ALL_PASS
    for finding in result["findings"]:
        assert set(finding) == FINDING_KEYS
        assert finding["policy"] == "backup_agent"
    status = result["status"]
    assert status["last_snapshot"] == {"id": world["snap"].id[:8], "time": world["snap"].time}
    assert 2.9 < status["age_hours"] < 3.1
    assert (status["max_age_hours"], status["snapshots"]) == (26, 1)
    assert status["restore_test"]["result"] == "pass"
    assert 0.9 < status["restore_test"]["age_days"] < 1.1
    assert status["restore_test"]["evidence"]["files"] == 10
    assert status["timer"]["enabled"] and status["timer"]["active"]
    assert status["timer"]["next"] == "Sat 2026-11-28 01:07:12 CET"
    # read-only: nothing written, and restic never takes a lock
    assert {p.name: p.read_text() for p in world["state"].iterdir()} == files
    assert all("--no-lock" in argv for argv in world["fake"].calls)
    assert PASSWORD not in json.dumps(result)


def test_an_old_backup_fails(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    world["fake"].snaps[0].time = restic.iso(time.time() - 30 * 3600)
    result = run_module(mod, world["fake"], monkeypatch, world["args"])
    age = by_id(result)["backup_agent.snapshot_age"]
    assert age["status"] == "fail"
    assert (age["expected"], age["actual"]) == ("<= 26 h", "30.0 h")
    assert age["evidence"]["snapshot"] == world["snap"].id[:8]


def test_no_backup_fails(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    world["fake"].snaps.clear()
    result = run_module(mod, world["fake"], monkeypatch, world["args"])
    age = by_id(result)["backup_agent.snapshot_age"]
    assert (age["status"], age["actual"]) == ("fail", f"no snapshot of {HOST}")
    assert result["status"]["snapshots"] == 0


@pytest.mark.parametrize(
    ("rc", "stderr", "kind"),
    [
        (1, "Fatal: wrong password or no key found\n", "wrong_password"),
        (
            1,
            "subprocess ssh: Host key verification failed.\nFatal: unable to open repository: "
            "unable to start the sftp session, error: EOF\n",
            "unreachable",
        ),
    ],
)
def test_an_unreadable_repository_fails_with_restic_s_message(
    world: dict[str, Any], rc: int, stderr: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world["fake"].fail["snapshots"] = (rc, stderr)
    result = run_module(mod, world["fake"], monkeypatch, world["args"])
    age = by_id(result)["backup_agent.snapshot_age"]
    assert age["status"] == "fail"
    assert age["actual"] == f"repository unreadable ({kind})"
    assert age["evidence"]["kind"] == kind
    assert age["evidence"]["stderr"] == stderr.strip()
    assert "failed" not in result


def test_restic_missing_is_an_error(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_module(mod, None, monkeypatch, world["args"])
    assert statuses(result)["backup_agent.snapshot_age"] == "error"
    assert statuses(result)["backup_agent.restore_test"] == "pass"  # its record still counts


@pytest.mark.parametrize(
    ("record", "actual"),
    [
        (None, "no restore test recorded"),
        (
            {
                "result": "fail",
                "at": 3600,
                "snapshot": "abcd1234",
                "files": 2,
                "checksums_match": False,
                "mismatches": [{"path": "/etc/hosts", "reason": "content differs"}],
                "kind": "corrupt",
                "stderr": "ciphertext verification failed",
            },
            "fail 0.04 days ago",
        ),
        ({"result": "pass", "at": 15 * 86400}, "pass 15.0 days ago"),
    ],
)
def test_a_missing_failed_or_stale_restore_test_fails(
    world: dict[str, Any],
    record: dict[str, Any] | None,
    actual: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = world["state"] / "restore-test.json"
    if record is None:
        path.unlink()
    else:  # the age is set when the test runs, not when pytest collects it
        path.write_text(json.dumps({**record, "at": iso(record["at"])}))
    result = run_module(mod, world["fake"], monkeypatch, world["args"])
    finding = by_id(result)["backup_agent.restore_test"]
    assert finding["status"] == "fail"
    assert finding["expected"] == "pass, at most 14 days old"
    assert finding["actual"] == actual
    if record and record["result"] == "fail":
        assert finding["evidence"]["mismatches"] == record["mismatches"]
        assert finding["evidence"]["kind"] == "corrupt"
        assert "sample" not in finding["evidence"]


def test_a_failed_or_missing_last_run_fails(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    status_file = world["state"] / "status.json"
    status_file.write_text(
        json.dumps(
            {"last_run": {"at": iso(60), "result": "fail", "error": "restic backup failed (rc 1)"}}
        )
    )
    result = run_module(mod, world["fake"], monkeypatch, world["args"])
    last = by_id(result)["backup_agent.last_run"]
    assert last["status"] == "fail"
    assert last["evidence"]["error"] == "restic backup failed (rc 1)"
    status_file.unlink()
    result = run_module(mod, world["fake"], monkeypatch, world["args"])
    assert by_id(result)["backup_agent.last_run"]["actual"] == "never ran"


@pytest.mark.parametrize(
    ("show", "status"),
    [
        (SYSTEMCTL_SHOW_OK, "pass"),
        (SYSTEMCTL_SHOW_OK.replace("UnitFileState=enabled", "UnitFileState=disabled"), "fail"),
        (SYSTEMCTL_SHOW_OK.replace("ActiveState=active", "ActiveState=inactive"), "fail"),
        (
            "UnitFileState=\nActiveState=inactive\nLoadState=not-found\nNextElapseUSecRealtime=\n",
            "fail",
        ),
        (None, "error"),
    ],
)
def test_the_timer_control(
    world: dict[str, Any], show: str | None, status: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_module(mod, world["fake"], monkeypatch, world["args"], systemctl_show=show)
    assert statuses(result)["backup_agent.timer"] == status


def test_no_timer_control_when_not_asked(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_module(mod, world["fake"], monkeypatch, dict(world["args"], timer=""))
    assert "backup_agent.timer" not in statuses(result)
