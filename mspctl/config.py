"""Where things live: the project tree (tiers, inventories, playbooks) and mspctl's state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mspctl.errors import BadInput

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent


def _is_project(path: Path) -> bool:
    return (path / "tiers").is_dir() and (path / "playbooks").is_dir()


def find_project_dir(start: Path | None = None) -> Path:
    """The project tree: an ancestor of the cwd, else the source checkout."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if _is_project(candidate):
            return candidate
    return SOURCE_ROOT


def default_home() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "mspctl"


@dataclass(frozen=True)
class Config:
    """Resolved paths and settings; built once by the CLI and carried by the app object."""

    project_dir: Path
    home: Path
    db_url: str

    @classmethod
    def load(
        cls,
        project_dir: Path | None = None,
        home: Path | None = None,
        db_url: str | None = None,
    ) -> Config:
        project = (project_dir or find_project_dir()).resolve()
        if not _is_project(project):
            raise BadInput(
                "not an mspctl project (needs tiers/ and playbooks/)", file=project, key=None
            )
        home = (home or default_home()).resolve()
        url = db_url or f"sqlite:///{home / 'mspctl.db'}"
        return cls(project_dir=project, home=home, db_url=url)

    @property
    def tiers_dir(self) -> Path:
        return self.project_dir / "tiers"

    @property
    def inventories_dir(self) -> Path:
        return self.project_dir / "inventories"

    @property
    def playbooks_dir(self) -> Path:
        return self.project_dir / "playbooks"

    @property
    def runs_dir(self) -> Path:
        """One private data dir per run, kept as the audit trail."""
        return self.home / "runs"
