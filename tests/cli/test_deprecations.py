"""No deprecation warning from mspctl's roles, plugins or playbooks on either supported
ansible-core (2.19 on Python 3.11, 2.21 on 3.13): a real run, its events scanned. Mitogen's
strategy deprecation is the only one allowed, and mspctl explains it once, not on every run.

The runs here are the demo client on this machine (the assets policy and fact gathering); the
platinum tier on lab hosts is scanned the same way in tests/integration/test_drift_lab.py."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys

from deprecations import assert_no_deprecation_but_mitogen

from mspctl.runner import mitogen_strategy_dir

NOTE = "deprecates strategy plugins from outside ansible"


def test_runs_cause_no_deprecation_and_mitogen_s_is_explained_once(cli):
    first = cli("apply", "demo", "--tier", "platinum", "--json")
    assert first.exit_code == 0, first.output
    assert "ansible deprecation" not in first.stderr
    assert first.stderr.count(NOTE) == 1, first.stderr
    check = cli("drift", "demo", "--json")
    assert check.exit_code == 0, check.output
    stock = cli("apply", "demo", "--json", "--engine", "stock", "--policy", "assets")
    assert stock.exit_code == 0, stock.output
    for later in (check, stock):
        assert NOTE not in later.stderr and "ansible deprecation" not in later.stderr
    found = assert_no_deprecation_but_mitogen(cli.home)
    assert found, "ansible-core no longer warns about Mitogen's strategy: drop the note"


def test_a_mitogen_that_cannot_load_falls_back_to_the_tuned_engine(project, tmp_path):
    # a broken install: an ansible_mitogen package that fails to import, found first on the
    # path, with its strategy plugin (the real one's code) where mspctl looks for it
    real = mitogen_strategy_dir()
    assert real is not None
    broken = tmp_path / "site" / "ansible_mitogen"
    (broken / "plugins" / "strategy").mkdir(parents=True)
    (broken / "__init__.py").write_text('raise ImportError("this mitogen is broken (a test)")\n')
    shutil.copy(real / "mitogen_free.py", broken / "plugins" / "strategy")
    home = tmp_path / "home"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(broken.parent), os.environ.get("PYTHONPATH", "")]),
        "MSPCTL_PROJECT_DIR": str(project),
        "MSPCTL_HOME": str(home),
        "MSPCTL_DB_URL": "",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "mspctl", "apply", "demo", "--policy", "assets", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    said = " ".join(proc.stderr.split())  # as one line: the terminal width wraps it
    assert said.count("the mitogen engine cannot load") == 1, said
    assert "this mitogen is broken (a test)" in said
    assert "uses the tuned engine instead" in said
    assert json.loads(proc.stdout)["status"] == "successful"
    with sqlite3.connect(home / "mspctl.db") as db:
        assert db.execute("select engine from runs").fetchall() == [("tuned",)]
    assert not (home / "cache" / "mitogen-loads").exists()  # a failure is never remembered
