"""mspctl_restore_test: a due test runs and is a change, check mode writes nothing, a recent pass
is left alone, a failing test is a result (not a module failure), the password is never output."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.modules import restore_test as mod
from ansible_collections.mspctl.policy.tests.unit.plugins.modules.restic_fake import (
    FakeRestic,
    run_module,
)

HOST = "web01"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    src = tmp_path / "src"
    for i in range(6):
        (src / f"f{i}").parent.mkdir(parents=True, exist_ok=True)
        (src / f"f{i}").write_text(f"file {i}\n" * 10)
    fake = FakeRestic(password=PASSWORD)
    fake.take(HOST, [str(src)])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    args = {
        "repository": "sftp:restic@nas:/srv/restic/acme/web01",
        "password": PASSWORD,
        "host": HOST,
        "sample_size": 4,
        "interval_days": 7,
        "result_file": str(tmp_path / "state" / "restore-test.json"),
        "status_file": str(tmp_path / "state" / "status.json"),
        "scratch_parent": str(scratch),
        "lock_file": str(tmp_path / "lock"),
        "ssh_config": "/etc/mspctl/backup/ssh_config",
    }
    return {"fake": fake, "args": args, "tmp": tmp_path, "src": src, "scratch": scratch}


def state(world: dict[str, Any]) -> dict[str, str]:
    return (
        {
            str(p.relative_to(world["tmp"])): p.read_text()
            for p in (world["tmp"] / "state").glob("*")
        }
        if (world["tmp"] / "state").exists()
        else {}
    )


def test_a_due_test_runs_and_is_a_change_with_its_diff(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_module(mod, world["fake"], monkeypatch, world["args"])
    assert result["changed"] is True
    assert (result["due"], result["ran"]) == (True, True)
    record = result["restore_test"]
    assert record["result"] == "pass"
    assert (record["files"], record["checksums_match"], record["mismatches"]) == (4, True, [])
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["result"] == "pass"
    assert result["diff"]["after"]["snapshot"] == record["snapshot"]
    on_disk = json.loads(Path(world["args"]["result_file"]).read_text())
    assert on_disk == record
    assert (
        json.loads(Path(world["args"]["status_file"]).read_text())["restore_test"]["result"]
        == "pass"
    )
    assert list(world["scratch"].iterdir()) == []


def test_check_mode_says_a_test_is_due_and_writes_nothing(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_module(mod, world["fake"], monkeypatch, world["args"], check=True)
    assert result["changed"] is True
    assert (result["due"], result["ran"]) == (True, False)
    assert result["diff"]["after"]["result"] == "(would run)"
    assert world["fake"].calls == []
    assert state(world) == {}
    assert list(world["scratch"].iterdir()) == []


def test_a_recent_pass_is_left_alone(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_module(mod, world["fake"], monkeypatch, world["args"])
    before, calls = state(world), len(world["fake"].calls)
    for check in (False, True):
        again = run_module(mod, world["fake"], monkeypatch, world["args"], check=check)
        assert again["changed"] is False
        assert (again["due"], again["ran"]) == (False, False)
        assert again["restore_test"] == first["restore_test"]
    assert state(world) == before
    assert len(world["fake"].calls) == calls
    forced = run_module(mod, world["fake"], monkeypatch, dict(world["args"], force=True))
    assert (forced["changed"], forced["due"], forced["ran"]) == (True, False, True)


def test_an_old_or_failed_test_is_due_again(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    result_file = Path(world["args"]["result_file"])
    result_file.parent.mkdir()
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 8 * 86400))
    for last in (
        {"result": "pass", "at": old},
        {"result": "fail", "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    ):
        result_file.write_text(json.dumps(last))
        result = run_module(mod, world["fake"], monkeypatch, world["args"], check=True)
        assert (result["changed"], result["due"]) == (True, True)
        assert result["diff"]["before"]["result"] == last["result"]


def test_a_failing_test_is_a_result_not_a_module_failure(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    world["fake"].tamper = {str(world["src"] / "f1"), str(world["src"] / "f2")}
    args = dict(world["args"], sample_size=6)
    result = run_module(mod, world["fake"], monkeypatch, args)
    assert "failed" not in result
    assert result["changed"] is True
    record = result["restore_test"]
    assert record["result"] == "fail"
    assert record["kind"] == "corrupt"
    assert sorted(m["path"] for m in record["mismatches"]) == [
        str(world["src"] / "f1"),
        str(world["src"] / "f2"),
    ]
    # the next run retries: a failed test is due
    again = run_module(mod, world["fake"], monkeypatch, args, check=True)
    assert again["due"] is True


def test_the_password_is_never_in_the_output(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "a wrong password, also a secret"
    result = run_module(mod, world["fake"], monkeypatch, dict(world["args"], password=wrong))
    assert result["restore_test"]["kind"] == "wrong_password"
    text = json.dumps(result)
    assert wrong not in text and PASSWORD not in text
    assert all(wrong not in " ".join(argv) for argv in world["fake"].calls)
    assert mod.argument_spec()["password"]["no_log"] is True


def test_bad_arguments_fail(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_module(mod, world["fake"], monkeypatch, dict(world["args"], sample_size=0))
    assert result["failed"] is True and "sample_size" in result["msg"]
    result = run_module(
        mod,
        world["fake"],
        monkeypatch,
        dict(world["args"], scratch_parent=str(world["tmp"] / "nope")),
    )
    assert result["failed"] is True and "scratch_parent" in result["msg"]
