"""Shared fixtures: a private copy of the project tree and a CLI runner bound to it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    return target


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
