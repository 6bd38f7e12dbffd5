"""The backup_agent policy on Windows (mspctl_winbackup), judged from recorded probe outputs
(``tests/fixtures/windows/backup-*.json``, documented field by field in
``tests/fixtures/windows/README.md``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_winbackup as wb
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_winprobe import (
    ProbeError,
    probe_output,
)

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "windows"
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
REPO = "rest:https://backup.example.net:8000/acme/fileserver"


def probe(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / f"backup-{name}.json").read_text())
    return wb.parse_probe(probe_output(data))


def judged(name: str, max_age_hours: int = 26, interval_days: int = 7) -> dict[str, Any]:
    findings, status = wb.evaluate(
        probe(name), "fileserver", REPO, max_age_hours, interval_days, NOW
    )
    return {"findings": {f["control_id"]: f for f in findings}, "status": status}


def statuses(result: dict[str, Any]) -> dict[str, str]:
    return {cid: f["status"] for cid, f in result["findings"].items()}


def test_converged_host_passes_every_control_with_the_linux_ids():
    result = judged("converged")
    assert statuses(result) == {
        "backup_agent.snapshot_age": "pass",
        "backup_agent.restore_test": "pass",
        "backup_agent.last_run": "pass",
        "backup_agent.timer": "pass",
    }
    status = result["status"]
    assert status["last_snapshot"]["id"] == "4f2a9c1e"  # the newest of three, by time
    assert status["snapshots"] == 3
    assert status["age_hours"] == pytest.approx(11.88, abs=0.01)  # 01:07 at +01:00 is 00:07Z
    assert status["restore_test"]["age_days"] == pytest.approx(6.12, abs=0.01)
    assert result["findings"]["backup_agent.restore_test"]["evidence"]["files"] == 3


def test_the_tier_decides_the_age_limit():
    assert statuses(judged("converged", max_age_hours=36))["backup_agent.snapshot_age"] == "pass"
    failing = judged("converged", max_age_hours=8)["findings"]["backup_agent.snapshot_age"]
    assert failing["status"] == "fail"
    assert (failing["expected"], failing["actual"]) == ("<= 8 h", "11.9 h")


def test_a_restore_test_older_than_twice_the_interval_fails():
    assert statuses(judged("converged", interval_days=3))["backup_agent.restore_test"] == "fail"


def test_stale_backup_failed_run_disabled_task_and_a_differing_checksum():
    result = judged("stale")
    assert statuses(result) == {
        "backup_agent.snapshot_age": "fail",  # 2026-11-29 00:09Z: 35.8 h
        "backup_agent.restore_test": "fail",
        "backup_agent.last_run": "fail",
        "backup_agent.timer": "fail",
    }
    restore = result["findings"]["backup_agent.restore_test"]["evidence"]
    assert restore["checksums_match"] is False
    assert [(m["path"], m["reason"]) for m in restore["mismatches"]] == [
        ("/C/Users/anna/Documents/Angebot 2026.docx", "content differs"),
        ("/D/Shares/Buchhaltung/2026/11/Rechnungen.xlsx", "not restored"),
    ]
    assert restore["files"] == 2  # the file changed during the test is no evidence
    assert restore["changed_since_snapshot"] == 3
    run = result["findings"]["backup_agent.last_run"]
    assert "VSS" in run["evidence"]["stderr"]
    timer = result["findings"]["backup_agent.timer"]
    assert timer["actual"] == "not enabled, Disabled, next never"
    assert timer["evidence"]["last_result_hex"] == "0x00000001"


def test_wrong_password_is_named_in_both_controls():
    result = judged("wrong-password")
    age = result["findings"]["backup_agent.snapshot_age"]
    assert (age["status"], age["actual"]) == ("fail", "repository unreadable (wrong_password)")
    restore = result["findings"]["backup_agent.restore_test"]
    assert restore["status"] == "fail"
    assert restore["evidence"]["kind"] == "wrong_password"
    assert restore["evidence"]["error"] == "restic snapshots failed"


def test_fresh_host_errors_until_restic_is_there():
    result = judged("fresh")
    assert statuses(result) == {
        "backup_agent.snapshot_age": "error",
        "backup_agent.restore_test": "fail",
        "backup_agent.last_run": "fail",
        "backup_agent.timer": "fail",
    }
    assert result["findings"]["backup_agent.snapshot_age"]["actual"] == "restic is not installed"


def test_new_repository_never_ran():
    result = judged("no-repository")
    age = result["findings"]["backup_agent.snapshot_age"]
    assert age["actual"] == "repository unreadable (no_repository)"
    timer = result["findings"]["backup_agent.timer"]
    assert timer["status"] == "pass"  # enabled and scheduled; "has not yet run" is no error
    assert "last_result_hex" not in timer["evidence"]


def test_a_single_sample_object_unwrapped_by_convertto_json():
    result = judged("one-sample")
    assert result["findings"]["backup_agent.restore_test"]["evidence"]["files"] == 1
    assert result["status"]["snapshots"] == 1


def test_when_a_converge_runs_the_backup():
    assert wb.backup_due(probe("converged"), 26, NOW) is False
    assert wb.backup_due(probe("converged"), 8, NOW) is True
    assert wb.backup_due(probe("stale"), 26, NOW) is True
    assert wb.backup_due(probe("no-repository"), 26, NOW) is True  # the run initialises it
    assert wb.backup_due(probe("fresh"), 26, NOW) is False  # nothing installed yet (check mode)


def test_when_a_restore_test_is_due():
    def record(name: str) -> dict[str, Any] | None:
        return wb.restore_record(probe(name)["restore_test"])

    assert wb.restore_due(record("converged"), 7, NOW) is False  # passed 6.1 days ago
    assert wb.restore_due(record("converged"), 6, NOW) is True
    assert wb.restore_due(record("stale"), 7, NOW) is True  # the last one failed
    assert wb.restore_due(None, 7, NOW) is True


def test_restore_record_is_the_linux_shape():
    record = wb.restore_record(probe("converged")["restore_test"])
    assert record is not None
    assert record["result"] == "pass"
    assert record["snapshot"] == "77aa0b31"
    assert record["bytes"] == 48213 + 1830211 + 912
    assert record["sample"][0] == "/C/Users/anna/Documents/Angebot 2026.docx"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"host": "h", "snapshot": None, "sample": []}, "no snapshot of host h in the repository"),
        (
            {"host": "h", "snapshot": {"short_id": "ab12cd34"}, "sample": []},
            "no file of snapshot ab12cd34 is unchanged on disk: nothing to compare",
        ),
        (
            {
                "snapshot": {"short_id": "ab12cd34"},
                "sample": [
                    {"path": "/C/x", "size": 1, "expected_sha256": "a", "changed_during": True}
                ],
            },
            "every sampled file changed during the test: nothing compared",
        ),
        (
            {"snapshot": None, "error": "Access to the path 'C:\\x' is denied."},
            "Access to the path 'C:\\x' is denied.",
        ),
    ],
)
def test_a_restore_test_that_compared_nothing_fails_and_says_why(raw, error):
    record = wb.restore_record(raw)
    assert record is not None
    assert (record["result"], record["error"]) == ("fail", error)


def test_a_restic_failure_during_restore_fails_even_with_matching_files():
    raw = probe_output(json.loads((FIXTURES / "backup-converged.json").read_text()))
    restore = raw["restore_test"]
    restore.update(
        step="restore", restic={"rc": 1, "stderr": "Fatal: ciphertext verification failed"}
    )
    record = wb.restore_record(restore)
    assert record is not None
    assert record["checksums_match"] is True
    assert (record["result"], record["kind"]) == ("fail", "corrupt")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(task=[1]), "task"),
        (lambda d: d["snapshots"].update(stdout="not json"), "snapshots.stdout"),
        (lambda d: d["snapshots"].update(stdout='[{"id": "x", "time": "yesterday"}]'), r"\.time"),
        (lambda d: d["task"].update(last_result="0"), "task.last_result"),
        (lambda d: d["restore_test"].update(sample=["x"]), "restore_test.sample"),
    ],
)
def test_a_malformed_probe_names_the_field(mutate, field):
    data = probe_output(json.loads((FIXTURES / "backup-converged.json").read_text()))
    mutate(data)
    with pytest.raises(ProbeError, match=field):
        parsed = wb.parse_probe(data)
        wb.restore_record(parsed["restore_test"])


def test_a_failed_probe_makes_every_control_an_error():
    findings, _status = wb.evaluate(ProbeError("WinRM: access denied"), "h", REPO, 26, 7, NOW)
    assert {f["status"] for f in findings} == {"error"}
    assert findings[0]["actual"] == "backup probe: WinRM: access denied"
