"""``mspctl apply`` against a real target: this machine over the local connection."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from processes import processes_mentioning

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "projects"
# the demo client is this very machine: only the read-only assets policy runs on it here;
# the other policies are proven on lab hosts (tests/integration, molecule)
ONLY_ASSETS = ("--policy", "assets")


def test_apply_demo_records_the_run_and_is_idempotent(cli):
    # issue 2's acceptance, to the letter: the demo's no_<policy> groups keep the controller
    # machine out of every policy but the read-only assets one
    first = cli("apply", "demo", "--tier", "platinum", "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["status"] == "successful"
    assert summary["tier"] == "platinum"
    assert "assets" in summary["policies"]
    assert summary["hosts"]["demo-server"]["failed"] == 0

    second = cli("apply", "demo", "--tier", "platinum", "--json")
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)
    assert again["changed"] == 0
    assert all(h["changed"] == 0 for h in again["hosts"].values())

    run = cli.json("runs", "show", summary["run_id"])
    assert run["id"] == summary["run_id"]
    assert run["client"] == "demo"
    assert run["status"] == "successful"
    assert run["mode"] == "apply"
    assert run["user"]
    assert run["ended_at"] >= run["started_at"]
    assert {t["policy"] for t in run["tasks"]} == {None, "assets"}  # facts, then assets only
    tasks = [t for t in run["tasks"] if t["policy"] == "assets"]
    assert "Collect the asset record and evaluate the assets controls" in {t["task"] for t in tasks}
    assert Path(run["artifacts_dir"], "artifacts", run["id"], "job_events").is_dir()

    listed = cli.json("runs", "list", "demo")
    assert [r["id"] for r in listed] == [again["run_id"], summary["run_id"]]


def test_override_of_the_effective_tier_is_warned_and_recorded(cli):
    result = cli("apply", "demo", "--tier", "bronze", "--json", *ONLY_ASSETS)
    assert result.exit_code == 0, result.output
    assert "effective tier is platinum" in result.stderr
    run = cli.json("runs", "show", json.loads(result.stdout)["run_id"])
    assert run["tier"] == "bronze"
    assert run["tier_source"] == "override"
    assert run["contract_tier"] == "silver"


def test_check_run_of_a_converged_host_exits_zero(cli):
    result = cli("apply", "demo", "--check", "--json", *ONLY_ASSETS)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mode"] == "check"


def test_unreachable_host_exits_one_and_is_recorded(cli):
    hosts = cli.project / "inventories/demo/hosts.yml"
    hosts.write_text(
        hosts.read_text().replace(
            "ansible_connection: local",
            "ansible_connection: ssh\n          ansible_host: 127.0.0.1\n          ansible_port: 1",
        )
    )
    result = cli("apply", "demo", "--json", *ONLY_ASSETS)
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["hosts"]["demo-server"]["unreachable"] == 1
    assert cli.json("runs", "show", summary["run_id"])["status"] == "failed"


def test_sigterm_mid_run_is_recorded_as_aborted(tmp_path):
    home = tmp_path / "home"
    env = {
        **os.environ,
        "MSPCTL_PROJECT_DIR": str(FIXTURES / "slow"),
        "MSPCTL_HOME": str(home),
        "MSPCTL_DB_URL": "",
    }
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mspctl", "apply", "demo", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    events = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the first task has finished
        events = [
            e
            for e in home.glob("runs/*/artifacts/*/job_events/*.json")
            if '"runner_on_ok"' in e.read_text()
        ]
        if events:
            break
        time.sleep(0.2)
    assert events, "the first task never finished"
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    with sqlite3.connect(home / "mspctl.db") as db:
        (run_id, status, ended) = db.execute("select id, status, ended_at from runs").fetchone()
        tasks = db.execute(
            "select task, status from task_results where run_id = ?", (run_id,)
        ).fetchall()
    assert status == "aborted"
    assert ended is not None
    assert ("Finish a first task", "ok") in tasks
    assert all(name != "Take a long time" for name, _ in tasks)
    assert json.loads(out)["status"] == "aborted"
    # nothing of this run keeps running (its processes carry its state dir)
    assert processes_mentioning(str(home), started) == {}
