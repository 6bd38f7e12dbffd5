"""plugins/module_utils/mspctl_restic.py: restic's formats, the restore test, the service's run.

The restore test and the service run against ``FakeRestic`` over real files in tmp_path, so the
sampling, the restore into scratch, the checksum comparison and the state files are real.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_restic as restic
from ansible_collections.mspctl.policy.tests.unit.plugins.modules.restic_fake import (
    FakeRestic,
    rfc3339_ns,
)
from hypothesis import given
from hypothesis import strategies as st

HOST = "web01"
PASSWORD = "correct horse battery staple"


def make_tree(root: Path, count: int = 12) -> list[Path]:
    files = []
    for i in range(count):
        path = root / f"dir{i % 3}" / f"file{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of file {i}\n" * (i + 1))
        files.append(path)
    return files


def client(fake: FakeRestic, **kw: Any) -> Any:
    return restic.Restic(
        fake,
        "sftp:restic@nas:/srv/restic/acme/web01",
        password=PASSWORD,
        ssh_config="/etc/mspctl/backup/ssh_config",
        **kw,
    )


# -- formats ------------------------------------------------------------------------------------
def test_parse_time_keeps_nanoseconds_and_offsets() -> None:
    assert restic.parse_time("2026-03-01T01:02:03.123456789Z") == (1772326923, 123456789)
    assert restic.parse_time("2026-03-01T02:02:03.1+01:00") == (1772326923, 100000000)
    assert restic.parse_time("2026-03-01T01:02:03Z") == (1772326923, 0)
    assert restic.mtime_ns("2026-03-01T01:02:03.000000007Z") == 1772326923 * 10**9 + 7
    with pytest.raises(ValueError):
        restic.parse_time("yesterday")


@given(st.integers(min_value=0, max_value=4 * 10**18), st.integers(min_value=-720, max_value=840))
def test_mtime_round_trips_through_restic_format(ns: int, offset: int) -> None:
    assert restic.mtime_ns(rfc3339_ns(ns, offset)) == ns


@pytest.mark.parametrize(
    ("url", "parsed", "command"),
    [
        (
            "sftp:restic@10.0.0.5:/srv/restic/acme/web01",
            {"user": "restic", "host": "10.0.0.5", "port": None, "path": "/srv/restic/acme/web01"},
            "ssh -F /c restic@10.0.0.5 -s sftp",
        ),
        (
            "sftp://restic@nas.example:2222//volume1/restic/web01",
            {
                "user": "restic",
                "host": "nas.example",
                "port": 2222,
                "path": "/volume1/restic/web01",
            },
            "ssh -F /c -p 2222 restic@nas.example -s sftp",
        ),
        (
            "sftp:nas:/backups/web01",
            {"user": None, "host": "nas", "port": None, "path": "/backups/web01"},
            "ssh -F /c nas -s sftp",
        ),
        ("/var/backups/restic", None, None),
        ("rest:https://backup.example/web01", None, None),
    ],
)
def test_sftp_repositories(url: str, parsed: dict[str, Any] | None, command: str | None) -> None:
    assert restic.parse_sftp(url) == parsed
    assert restic.sftp_command(url, "/c") == command


def test_the_password_goes_to_the_environment_never_to_the_command_line() -> None:
    fake = FakeRestic(password=PASSWORD)
    client(fake).snapshots(HOST)
    argv, env = fake.calls[-1], fake.envs[-1]
    assert PASSWORD not in " ".join(argv)
    assert env["RESTIC_PASSWORD"] == PASSWORD
    # global options come before the command's own arguments (a backup's paths follow "--")
    assert argv[:4] == [
        "restic",
        "snapshots",
        "-o",
        "sftp.command=ssh -F /etc/mspctl/backup/ssh_config restic@nas -s sftp",
    ]
    service = restic.Restic(fake, "/srv/repo", password_file="/etc/mspctl/backup/password")
    assert service.env["RESTIC_PASSWORD_FILE"] == "/etc/mspctl/backup/password"
    assert "RESTIC_PASSWORD" not in service.env
    assert service.options == []


@pytest.mark.parametrize(
    ("rc", "stderr", "kind"),
    [
        (1, "Fatal: wrong password or no key found", "wrong_password"),
        (12, "Fatal: wrong password or no key found", "wrong_password"),
        (
            1,
            "Fatal: unable to open config file: Stat: file does not exist\n"
            "Is there a repository at the following location?",
            "no_repository",
        ),
        (10, "Fatal: repository does not exist", "no_repository"),
        (1, "ignoring error for /etc/x: ciphertext verification failed", "corrupt"),
        (
            1,
            "subprocess ssh: Host key verification failed.\nFatal: unable to open repository at "
            "sftp:r@h:/p: unable to start the sftp session, error: EOF",
            "unreachable",
        ),
        (1, "Fatal: unable to create lock in backend: repository is already locked", "locked"),
        (1, "something else", "error"),
    ],
)
def test_failures_are_classified(rc: int, stderr: str, kind: str) -> None:
    assert restic.classify(stderr, rc) == kind


def test_messages_lose_go_stack_traces() -> None:
    err = (
        "decrypting blob 77 failed: ciphertext verification failed\n"
        "github.com/restic/restic/internal/repository.(*Repository).LoadBlob\n"
        "\tgithub.com/restic/restic/internal/repository/repository.go:303\n"
        "main.main\n\tgithub.com/restic/restic/cmd/restic/main.go:98\n"
    )
    assert restic.tail(err) == "decrypting blob 77 failed: ciphertext verification failed"
    assert len(restic.tail("x" * 5000)) == restic.MAX_ERROR_CHARS + 3


# -- sampling -----------------------------------------------------------------------------------
def test_only_files_unchanged_since_the_snapshot_are_sampled(tmp_path: Path) -> None:
    files = make_tree(tmp_path)
    (tmp_path / "odd[1].txt").write_text("a pattern character\n")
    (tmp_path / "empty").write_text("")
    (tmp_path / "big.bin").write_bytes(b"x" * 2048)
    os.symlink(files[0], tmp_path / "link")
    fake = FakeRestic()
    snap = fake.take(HOST, [str(tmp_path)])
    files[1].write_text("edited after the backup\n")  # size changes
    os.utime(files[2], ns=(0, os.stat(files[2]).st_mtime_ns + 1))  # only the mtime changes
    files[3].unlink()
    eligible, changed = restic.candidates(snap.nodes, max_file_bytes=1024)
    paths = {n["path"] for n in eligible}
    assert paths == {str(p) for p in files} - {str(files[1]), str(files[2]), str(files[3])}
    assert changed == 3


@pytest.mark.parametrize(
    ("last", "due"),
    [
        (None, True),
        ({"result": "fail", "at": "2026-03-01T00:00:00Z"}, True),
        ({"result": "pass", "at": "2026-03-01T00:00:00Z"}, False),  # 6 days 23 h old
        ({"result": "pass", "at": "2026-02-22T00:00:00Z"}, True),  # 13 days 23 h old
        ({"result": "pass", "at": "garbage"}, True),
        ({"result": "pass"}, True),
    ],
)
def test_a_restore_test_is_due(last: dict[str, str] | None, due: bool) -> None:
    now = dt.datetime(2026, 3, 7, 23, 0, tzinfo=dt.UTC).timestamp()
    assert restic.due(last, 7, now) is due


# -- the restore test ---------------------------------------------------------------------------
@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    path = tmp_path / "scratch-parent"
    path.mkdir()
    return path


def test_a_restore_test_passes_with_evidence_and_leaves_nothing(
    tmp_path: Path, scratch: Path
) -> None:
    src = tmp_path / "src"
    files = make_tree(src)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    fake = FakeRestic()
    snap = fake.take(HOST, [str(src)])
    result = restic.restore_test(
        client(fake), HOST, 5, scratch_parent=str(scratch), rng=random.Random(1)
    )
    assert result["result"] == "pass", result
    assert result["snapshot"] == snap.id[:8]
    assert result["snapshot_id"] == snap.id
    assert result["files"] == 5
    assert result["bytes"] == sum(len(snap.content[p]) for p in result["sample"])
    assert result["checksums_match"] is True
    assert result["mismatches"] == []
    assert result["error"] is None
    assert len(result["sample"]) == 5 and set(result["sample"]) <= {str(p) for p in files}
    assert result["scratch_removed"] is True
    assert list(scratch.iterdir()) == []
    # the restore went to a scratch directory, with --verify, never to the source
    restore = next(a for a in fake.calls if a[1] == "restore")
    target = restore[restore.index("--target") + 1]
    assert target.startswith(str(scratch / restic.SCRATCH_PREFIX))
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before


def test_a_tampered_snapshot_fails_with_the_mismatching_files(
    tmp_path: Path, scratch: Path
) -> None:
    src = tmp_path / "src"
    files = make_tree(src, 3)
    fake = FakeRestic(tamper={str(files[1])})
    fake.take(HOST, [str(src)])
    result = restic.restore_test(client(fake), HOST, 10, scratch_parent=str(scratch))
    assert result["result"] == "fail"
    assert result["kind"] == "corrupt"
    assert "ciphertext verification failed" in result["stderr"]
    assert result["checksums_match"] is False
    assert result["files"] == 3
    [mismatch] = result["mismatches"]
    assert mismatch["path"] == str(files[1])
    assert mismatch["reason"] == "content differs"
    assert mismatch["expected_sha256"] != mismatch["actual_sha256"]
    assert list(scratch.iterdir()) == []


def test_a_wrong_password_fails_before_restoring_anything(tmp_path: Path, scratch: Path) -> None:
    make_tree(tmp_path / "src", 3)
    fake = FakeRestic()
    fake.take(HOST, [str(tmp_path / "src")])
    wrong = restic.Restic(fake, "/srv/repo", password="not it")
    result = restic.restore_test(wrong, HOST, 10, scratch_parent=str(scratch))
    assert result["result"] == "fail"
    assert result["kind"] == "wrong_password"
    assert result["stderr"] == "Fatal: wrong password or no key found"
    assert result["files"] == 0 and result["snapshot"] is None
    assert "restore" not in fake.commands()
    assert "not it" not in json.dumps(result)


def test_no_snapshot_or_nothing_to_compare_fails(tmp_path: Path, scratch: Path) -> None:
    fake = FakeRestic()
    result = restic.restore_test(client(fake), HOST, 10, scratch_parent=str(scratch))
    assert (result["result"], result["error"]) == (
        "fail",
        f"no snapshot of host {HOST} in the repository",
    )
    files = make_tree(tmp_path / "src", 2)
    fake.take(HOST, [str(tmp_path / "src")])
    for path in files:
        path.write_text("everything changed since\n")
    result = restic.restore_test(client(fake), HOST, 10, scratch_parent=str(scratch))
    assert result["result"] == "fail"
    assert "nothing to compare" in result["error"]
    assert result["changed_since_snapshot"] == 2
    assert "restore" not in fake.commands()


def test_a_file_removed_after_sampling_is_no_evidence(tmp_path: Path) -> None:
    """A sampled file that is gone when the restored copy is compared (a temporary file, a
    rotated log) counts as changed since the snapshot: the others decide, no error."""
    files = make_tree(tmp_path / "src", 3)
    nodes = [
        {"path": str(f), "size": f.stat().st_size, "mtime": rfc3339_ns(f.stat().st_mtime_ns, 0)}
        for f in files
    ]
    scratch = tmp_path / "scratch"
    for f in files:
        copy = Path(restic.restored_path(str(scratch), str(f)))
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(f.read_bytes())
    files[0].unlink()
    result: dict[str, Any] = {"changed_since_snapshot": 0, "result": "fail"}
    restic.compare(nodes, str(scratch), result)
    assert (result["result"], result["files"], result["changed_since_snapshot"]) == ("pass", 2, 1)
    assert result["mismatches"] == []


def test_snapshots_of_other_hosts_are_not_tested(tmp_path: Path, scratch: Path) -> None:
    make_tree(tmp_path / "src", 2)
    fake = FakeRestic()
    mine = fake.take(HOST, [str(tmp_path / "src")], when=time.time() - 3600)
    fake.take("db01", [str(tmp_path / "src")])
    result = restic.restore_test(client(fake), HOST, 10, scratch_parent=str(scratch))
    assert result["snapshot_id"] == mine.id


def test_restored_paths_never_escape_the_scratch_directory(tmp_path: Path) -> None:
    assert restic.restored_path(str(tmp_path), "/etc/hosts") == str(tmp_path / "etc" / "hosts")
    with pytest.raises(ValueError):
        restic.restored_path(str(tmp_path), "/../../etc/passwd")


# -- state files --------------------------------------------------------------------------------
def test_records_are_atomic_and_the_status_is_world_readable(tmp_path: Path) -> None:
    result_file, status_file = tmp_path / "state" / "rt.json", tmp_path / "state" / "status.json"
    restic.write_json(str(status_file), {"last_success": 1.5, "max_age_hours": 26})
    record = {
        "result": "pass",
        "at": "2026-03-01T01:02:03Z",
        "snapshot": "abcd1234",
        "files": 3,
        "bytes": 10,
        "checksums_match": True,
        "error": None,
        "sample": ["/etc/shadow"],
    }
    restic.record_restore_test(record, str(result_file), str(status_file))
    assert stat.S_IMODE(result_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(status_file.stat().st_mode) == 0o644
    status = json.loads(status_file.read_text())
    assert status["last_success"] == 1.5 and status["max_age_hours"] == 26
    assert status["restore_test"] == {
        k: record[k]
        for k in ("result", "at", "snapshot", "files", "bytes", "checksums_match", "error")
    }
    assert "/etc/shadow" not in status_file.read_text()  # file names stay root-only
    assert sorted(p.name for p in result_file.parent.iterdir()) == ["rt.json", "status.json"]


def test_the_lock_is_exclusive(tmp_path: Path) -> None:
    import fcntl

    lock = tmp_path / "lock"
    with restic.Lock(str(lock)), open(lock) as other, pytest.raises(OSError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(lock) as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


# -- the service's run --------------------------------------------------------------------------
def service_config(tmp_path: Path, paths: list[str], **extra: Any) -> dict[str, Any]:
    (tmp_path / "password").write_text(PASSWORD + "\n")
    config = {
        "repository": "/srv/repo",
        "password_file": str(tmp_path / "password"),
        "host": HOST,
        "paths": paths,
        "excludes": ["/etc/mspctl/backup"],
        "retention": {"daily": 7, "weekly": 4, "monthly": 0},
        "max_age_hours": 26,
        "restore_test": {"interval_days": 7, "sample_size": 3, "scratch_parent": str(tmp_path)},
        "result_file": str(tmp_path / "state" / "restore-test.json"),
        "status_file": str(tmp_path / "state" / "status.json"),
    }
    config.update(extra)
    return config


def service(fake: FakeRestic, config: dict[str, Any]) -> Any:
    return restic.Restic(fake, config["repository"], password_file=config["password_file"])


def test_the_first_run_initialises_backs_up_prunes_and_tests(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", 6)
    config = service_config(tmp_path, [str(tmp_path / "src"), "/nonexistent"])
    fake = FakeRestic(initialised=False)
    logs: list[str] = []
    code, _report = restic.backup_run(config, service(fake, config), log=logs.append)
    assert code == 0, logs
    assert fake.commands() == [
        "cat",
        "init",
        "backup",
        "forget",
        "snapshots",
        "snapshots",
        "ls",
        "restore",
    ]
    backup = fake.calls[2]
    assert backup[backup.index("--") + 1 :] == [str(tmp_path / "src")]  # missing path skipped
    assert backup[backup.index("--host") + 1] == HOST
    assert backup[backup.index("--exclude") :][:2] == ["--exclude", "/etc/mspctl/backup"]
    forget = fake.calls[3]
    assert forget[2:] == [
        "--prune",
        "--host",
        HOST,
        "--group-by",
        "host",
        "--keep-daily",
        "7",
        "--keep-weekly",
        "4",
    ]
    status = json.loads(Path(config["status_file"]).read_text())
    snap = fake.snaps[-1]
    assert status["last_run"]["result"] == "ok"
    assert status["last_snapshot"] == {"id": snap.id[:8], "time": snap.time}
    assert status["last_success"] == pytest.approx(restic.epoch(snap.time), abs=0.001)
    assert status["max_age_hours"] == 26
    assert status["restore_test"]["result"] == "pass"
    assert any("skipped: /nonexistent" in line for line in logs)
    # a second run the same day: backup and retention, no restore test (not due)
    code, _report = restic.backup_run(config, service(fake, config))
    assert code == 0
    assert fake.commands()[8:] == ["cat", "backup", "forget", "snapshots"]


def test_a_failed_backup_keeps_the_last_known_snapshot_and_exits_1(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", 3)
    config = service_config(tmp_path, [str(tmp_path / "src")])
    fake = FakeRestic()
    restic.backup_run(config, service(fake, config))
    known = json.loads(Path(config["status_file"]).read_text())["last_snapshot"]
    fake.fail["backup"] = (
        1,
        "Fatal: unable to open repository: unable to start the sftp "
        "session, error: EOF\nsubprocess ssh: connection refused",
    )
    fake.fail["snapshots"] = fake.fail["backup"]
    code, _ = restic.backup_run(config, service(fake, config))
    assert code == 1
    status = json.loads(Path(config["status_file"]).read_text())
    assert status["last_snapshot"] == known
    assert status["last_run"]["result"] == "fail"
    assert status["last_run"]["kind"] == "unreachable"


def test_a_failed_restore_test_makes_the_run_exit_2(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src", 3)
    config = service_config(tmp_path, [str(tmp_path / "src")])
    fake = FakeRestic(tamper={str(f) for f in files})
    code, report = restic.backup_run(config, service(fake, config))
    assert code == 2
    assert report["restore_test"]["result"] == "fail"
    assert json.loads(Path(config["status_file"]).read_text())["restore_test"]["result"] == "fail"


def test_only_if_older_and_dry_run(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", 3)
    config = service_config(tmp_path, [str(tmp_path / "src")])
    fake = FakeRestic()
    code, report = restic.backup_run(
        config, service(fake, config), only_if_older_hours=26, dry_run=True
    )
    assert (code, report["ran"]) == (0, True)
    assert "backup" not in fake.commands() and not Path(config["status_file"]).exists()
    fake.take(HOST, [str(tmp_path / "src")], when=time.time() - 3600)
    code, report = restic.backup_run(config, service(fake, config), only_if_older_hours=26)
    assert (code, report["ran"]) == (0, False)
    assert "backup" not in fake.commands()
    fake.take(HOST, [str(tmp_path / "src")], when=time.time() - 27 * 3600)
    fake.snaps.reverse()  # the old one is listed last: the newest counts, not the last listed
    code, report = restic.backup_run(config, service(fake, config), only_if_older_hours=26)
    assert report["ran"] is False


def test_the_cli_runs_from_a_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_tree(tmp_path / "src", 3)
    config = service_config(tmp_path, [str(tmp_path / "src")], lock_file=str(tmp_path / "lock"))
    (tmp_path / "config.json").write_text(json.dumps(config))
    fake = FakeRestic()
    monkeypatch.setattr(restic, "process_runner", fake)
    code = restic.cli(["run", "--config", str(tmp_path / "config.json"), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ran"] is True and report["status"]["last_run"]["result"] == "ok"
    code = restic.cli(
        [
            "run",
            "--config",
            str(tmp_path / "config.json"),
            "--if-older-than-hours",
            "26",
            "--dry-run",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["ran"] is False
    code = restic.cli(["restore-test", "--config", str(tmp_path / "config.json"), "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["result"] == "pass"
    assert PASSWORD not in json.dumps(fake.calls)
