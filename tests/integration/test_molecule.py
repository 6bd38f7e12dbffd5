"""Every molecule scenario under molecule/ runs on its own lab hosts (converge, idempotence,
verify, check), so the README's test command covers the roles on real Debian hosts.

Each run gets its own molecule ephemeral directory and a lab named after this process, so it
never shares state or hosts with someone running the same scenario by hand in this checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lab_helpers import require_lab, test_lab_name

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def failure_excerpt(output: str, tail: int = 4000) -> str:
    """The failed tasks (their TASK line and message, wherever they are in a long log), then
    the end of the output: a failure early in verify is not cut off by the plays after it."""
    lines = output.splitlines()
    failed: list[str] = []
    task = ""
    in_failure = 0  # lines still to keep of a failure's message (printed over several lines)
    for line in lines:
        if not line.strip():
            in_failure = 0
        elif line.startswith(("TASK [", "PLAY [", "RUNNING HANDLER [")):
            task, in_failure = line, 0
        elif line.startswith(("fatal: [", "failed: [")):
            failed += [task, line[:3000]]
            in_failure = 40
        elif in_failure:
            failed.append(line[:3000])
            in_failure -= 1
    head = "\n".join(["failed tasks:", *failed, "", "end of the output:"]) if failed else ""
    return head + "\n" + output[-tail:]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, tmp_path: Path) -> None:
    require_lab()
    venv_bin = Path(sys.executable).parent
    env = dict(
        os.environ,
        PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path / "molecule"),
        # molecule installs this collection into ANSIBLE_HOME: a private one is fresh, where a
        # copy of the same version left in ~/.ansible would be kept, stale
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        MSPCTL_MOLECULE_LAB_NAME=test_lab_name(f"m{SCENARIOS.index(scenario)}"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
    )
    recaps = tmp_path / "recaps"
    env |= {"MSPCTL_RECAP_DIR": str(recaps), "ANSIBLE_CALLBACKS_ENABLED": "mspctl.policy.recap"}
    proc = subprocess.run(
        [str(venv_bin / "molecule"), "test", "-s", scenario],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, failure_excerpt(proc.stdout + proc.stderr)
    # the check step: the converge playbook in check mode on converged hosts changes nothing
    checks = [json.loads(p.read_text()) for p in sorted(recaps.glob("*-check.json"))]
    assert checks, "the scenario ran no check-mode playbook"
    for data in checks:
        assert data["hosts"], f"check mode of {data['playbook']} ran on no host"
        assert data["changed_tasks"] == [], f"drift in check mode: {data['changed_tasks']}"
        assert all(
            h["changed"] == 0 and h["failures"] == 0 and h["unreachable"] == 0
            for h in data["hosts"].values()
        ), data["hosts"]
