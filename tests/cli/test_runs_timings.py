"""``mspctl runs show RUN --timings``: where a run's time went, from its recorded events."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mspctl.errors import ExitCode
from tests.conftest import Cli

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "projects" / "fleet"


def test_timings_of_a_real_run_and_of_a_run_whose_artifacts_are_gone(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project)
    cli = Cli(project, tmp_path / "home")
    applied = cli("apply", "alpha", "--force-window", "--json")
    assert applied.exit_code == 0, applied.output
    run_id = json.loads(applied.stdout)["run_id"]

    result = cli("runs", "show", run_id[:12], "--timings", "--top", "2", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["run_id"] == run_id
    [host] = data["hosts"]
    assert host["host"] == "alpha-srv" and host["tasks"] >= 3  # facts, ping, patch, assets
    assert host["task_seconds"] > 0 and 0 < host["wall_seconds"] <= data["wall_seconds"] + 0.001
    slowest = data["slowest_tasks"]
    assert len(slowest) == 2 and slowest[0]["seconds"] >= slowest[1]["seconds"]
    assert {"patching", "assets"} <= set(data["roles"])
    assert sum(data["roles"].values()) >= host["task_seconds"] - 0.01

    table = cli("runs", "show", run_id, "--timings")
    assert table.exit_code == 0, table.output
    assert "slowest tasks" in table.stdout and "alpha-srv" in table.stdout

    shutil.rmtree(json.loads(cli("runs", "show", run_id, "--json").stdout)["artifacts_dir"])
    gone = cli("runs", "show", run_id, "--timings")
    assert gone.exit_code == ExitCode.BAD_INPUT, gone.output
    assert "artifacts are gone" in gone.stderr and "Traceback" not in gone.output
