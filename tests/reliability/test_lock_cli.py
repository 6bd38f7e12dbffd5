"""One run per client: a second run is refused with exit 4 and one line, or waits with --wait;
paths with spaces (project, state, vault file) work."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import time


def test_a_second_run_of_the_same_client_is_busy_and_wait_waits(slow):
    first = slow.start("apply", "demo", "--json")
    slow.wait_first_task(first)
    (first_run,) = slow.runs()

    refused = slow.run("apply", "demo", "--json")
    assert refused.returncode == 4, refused.stderr
    assert re.fullmatch(
        rf"error: busy: run {first_run['id']} by \S+ since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n",
        refused.stderr,
    ), refused.stderr
    drift = slow.run("drift", "demo", "--json")
    assert drift.returncode == 4, drift.stderr

    waiter = slow.start("apply", "demo", "--json", "--wait")
    assert waiter.stderr is not None
    said = waiter.stderr.readline()  # blocks until the waiter says it waits
    assert said.startswith(f"waiting for run {first_run['id']} by "), said
    with sqlite3.connect(slow.home / "mspctl.db") as db:
        assert db.execute("select count(*) from runs").fetchone() == (1,)  # still waiting
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 130
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the waiter takes the lock and starts its run
        with sqlite3.connect(slow.home / "mspctl.db") as db:
            if db.execute("select count(*) from runs").fetchone() == (2,):
                break
        time.sleep(0.3)
    else:
        raise AssertionError("the waiting run never started")
    slow.wait_first_task(waiter)
    waiter.send_signal(signal.SIGTERM)
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 130, err
    assert json.loads(out)["status"] == "aborted"


def test_apply_in_a_project_path_with_a_space(slow):
    assert " " in str(slow.project)
    tasks = slow.project / "roles/assets/tasks/main.yml"
    tasks.write_text(tasks.read_text().replace("sleep 60", "sleep 0"))
    result = slow.run("apply", "demo", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "successful"
    assert summary["hosts"]["slow-host"]["failed"] == 0
