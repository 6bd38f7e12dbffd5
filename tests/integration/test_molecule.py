"""Every molecule scenario under molecule/ runs on its own lab hosts (converge, idempotence,
verify, check), so the README's test command covers the roles on real Debian hosts.

Each run gets its own molecule ephemeral directory and a lab named after this process, so it
never shares state or hosts with someone running the same scenario by hand in this checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mspctl.lab.testing import require_lab, test_lab_name

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, tmp_path: Path) -> None:
    require_lab()
    venv_bin = Path(sys.executable).parent
    env = dict(
        os.environ,
        PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path / "molecule"),
        MSPCTL_MOLECULE_LAB_NAME=test_lab_name(f"m{SCENARIOS.index(scenario)}"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
    )
    proc = subprocess.run(
        [str(venv_bin / "molecule"), "test", "-s", scenario],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
