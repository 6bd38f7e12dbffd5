"""The run store failing under a run: locked, unreachable, read-only. One line, the password
hidden, nothing lost, nothing left running."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
from needs import unavailable


def test_store_locked_when_the_run_ends_keeps_the_results_and_the_next_command_records_them(slow):
    slow.env["MSPCTL_DB_TIMEOUT"] = "1"
    proc = slow.start("apply", "demo", "--json")
    slow.wait_first_task(proc)
    blocker = sqlite3.connect(slow.home / "mspctl.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=90)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(
        f"error: run store sqlite:///{slow.home}/mspctl.db unavailable: "
        "database is locked; the results of run "
    )
    assert "are kept in" in lines[0]
    (kept,) = slow.home.glob("runs/*/result.json")
    assert json.loads(kept.read_text())["status"] == "aborted"
    (run,) = slow.runs()  # the next command records them
    assert run["status"] == "aborted"
    assert run["status_reason"].startswith("recorded late from result.json")
    shown = slow.run("runs", "show", run["id"], "--json")
    assert ("Finish a first task", "ok") in {
        (t["task"], t["status"]) for t in json.loads(shown.stdout)["tasks"]
    }
    assert not kept.exists()


def test_store_locked_at_start_records_nothing_and_leaves_no_run_folder(slow):
    assert slow.run("runs", "list").returncode == 0  # the store exists
    blocker = sqlite3.connect(slow.home / "mspctl.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        result = slow.run("apply", "demo", MSPCTL_DB_TIMEOUT="1")
        elapsed = time.monotonic() - started
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("unavailable: database is locked")
    assert "Traceback" not in result.stderr
    assert elapsed < 30
    assert not list(slow.home.glob("runs/*"))
    assert slow.runs() == []


def test_a_store_that_accepts_but_never_answers_fails_promptly_with_the_password_hidden(slow):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nobody ever answers
    port = silent.getsockname()[1]
    try:
        started = time.monotonic()
        result = slow.run(
            "runs",
            "list",
            timeout=60,
            MSPCTL_DB_TIMEOUT="2",
            MSPCTL_DB_URL=f"postgresql://mspctl:canary-pw@127.0.0.1:{port}/runs",
        )
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        f"error: run store postgresql://mspctl:***@127.0.0.1:{port}/runs "
        "unavailable: connection timeout expired\n"
    )
    assert "canary-pw" not in result.stdout + result.stderr
    assert elapsed < 20  # bounded by the timeout (psycopg may try twice), not forever


def _read_only(home, env, *args):
    """Run mspctl with ``home`` mounted read-only in a private mount namespace (root), or with
    its write permission removed (anyone else)."""
    command = [sys.executable, "-m", "mspctl", *args]
    if os.geteuid() != 0:
        home.chmod(0o500)
        return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    return subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            str(home),
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize("fresh", [True, False], ids=["empty", "with-store"])
def test_a_read_only_state_dir_is_one_line_and_exit_1(slow, fresh):
    slow.home.mkdir(parents=True)
    if not fresh:
        assert slow.run("runs", "list").returncode == 0
    result = _read_only(slow.home, slow.environ(), "apply", "demo")
    if "unshare" in result.stderr and "Operation not permitted" in result.stderr:
        unavailable("no mount namespaces here")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
    assert line == (
        f"error: cannot write the run store sqlite:///{slow.home}/mspctl.db: "
        f"{slow.home} is read-only or not writable"
    ), result.stderr
    assert not list(slow.home.glob("runs/*"))
