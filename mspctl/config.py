"""Where things live: the project tree (tiers, inventories, playbooks) and mspctl's state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mspctl.errors import BadInput

DB_TIMEOUT_DEFAULT = 10.0  # seconds: PostgreSQL connect_timeout, SQLite busy timeout
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


def db_timeout() -> float:
    """``MSPCTL_DB_TIMEOUT`` seconds (default 10): how long to wait for the run store to
    connect (PostgreSQL) or to get a busy database (SQLite) before giving up with one line."""
    raw = os.environ.get("MSPCTL_DB_TIMEOUT") or ""
    try:
        value = float(raw) if raw else DB_TIMEOUT_DEFAULT
    except ValueError:
        raise BadInput(f"not a number of seconds: {raw!r}", key="MSPCTL_DB_TIMEOUT") from None
    if value <= 0:
        raise BadInput(f"must be positive: {raw!r}", key="MSPCTL_DB_TIMEOUT")
    return value


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by its owner only (0700); an existing
    directory of ours is tightened to 0700. State holds facts, diffs and run records."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
    if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def hide_password(url: str) -> str:
    """A database URL as it may be shown or logged: the password replaced by ***."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


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
