"""Shared fixtures: a private copy of the project tree and a CLI runner bound to it."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PARTS = (
    "ansible.cfg",
    "galaxy.yml",
    "meta",
    "collections",
    "tiers",
    "playbooks",
    "roles",
    "plugins",
    "inventories",
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project tree that a test may break at will."""
    target = tmp_path / "project"
    target.mkdir()
    for part in PROJECT_PARTS:
        source = ROOT / part
        if source.is_dir():
            # symlinks kept: collections/ is a link to the root
            shutil.copytree(
                source,
                target / part,
                symlinks=True,
                ignore=shutil.ignore_patterns("lab*", "pytest*"),
            )
        else:
            shutil.copy2(source, target / part)
    _demo_trial_around_today(target / "inventories/demo/client.yml")
    return target


DEMO_TRIAL = re.compile(r"(\n  trial:\n    tier: platinum\n    start: )\S+(\n    end: )\S+")


def _demo_trial_around_today(client_yml: Path) -> None:
    """The demo client's 60-day Platinum trial has fixed dates, like a real client's; tests that
    take the demo for a client in its trial must not break the day it ends, so the copy's trial
    runs from 29 days before today to 30 days after (today where the demo is, Europe/Paris)."""
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    start, end = today - dt.timedelta(days=29), today + dt.timedelta(days=30)
    text, count = DEMO_TRIAL.subn(rf"\g<1>{start}\g<2>{end}", client_yml.read_text())
    assert count == 1, f"{client_yml}: the demo's platinum trial block changed; update DEMO_TRIAL"
    client_yml.write_text(text)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


class Cli:
    def __init__(self, project: Path, home: Path) -> None:
        self.project = project
        self.home = home
        self.env = {
            "MSPCTL_PROJECT_DIR": str(project),
            "MSPCTL_HOME": str(home),
            "MSPCTL_DB_URL": "",
            "COLUMNS": "200",
        }

    def __call__(self, *args: str) -> Result:
        from mspctl.cli import mspctl

        return CliRunner().invoke(mspctl, list(args), env=self.env, catch_exceptions=False)

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def cli(project: Path, home: Path) -> Callable[..., Result]:
    return Cli(project, home)


# Minutes each long lab test took in CI (two at a time, on the shared 2-core machine). The test
# command runs the whole suite in one pytest-xdist run (`./dev test`: --dist loadgroup
# --no-loadscope-reorder, no test grouped: each worker takes the next test, in this order, when
# it is almost idle): the longest lab tests are handed out first, and the quick tests fill the
# time the lab tests spend waiting for hosts to boot, scrapes and alerts; the run ends with its
# longest worker. So no test may count on another having run before it on the same hosts.
LAB_MINUTES = {
    "tests/integration/test_nodes_lab.py": 12,
    "tests/integration/test_retire_lab.py": 11,
    "tests/integration/test_drift_lab.py": 11,
    "tests/integration/test_incidents_lab.py": 9,
    "tests/integration/test_molecule.py::test_molecule_scenario[monitoring]": 6.5,
    "tests/integration/test_devices_lab.py": 6,
    "tests/integration/test_molecule.py::test_molecule_scenario[backup_agent]": 5.5,
    "tests/integration/test_molecule.py::test_molecule_scenario[printers]": 5,
    "tests/integration/test_molecule.py::test_molecule_scenario[patching]": 4.5,
    "tests/integration/test_lab.py::test_up_apply_down_leaves_nothing": 3.5,
    "tests/integration/test_fleet_lab.py": 2,
    "tests/integration/test_backup_secret.py": 2,
}


def expected_minutes(item: pytest.Item) -> float:
    """The scheduling weight of a test: its recorded minutes, 1 for another lab test, 0 else."""
    for prefix, minutes in LAB_MINUTES.items():
        if item.nodeid == prefix or item.nodeid.startswith(prefix + "::"):
            return minutes
    return 1.0 if item.get_closest_marker("lab") else 0.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # stable: tests of equal weight keep their file order
    items.sort(key=lambda item: -expected_minutes(item))
