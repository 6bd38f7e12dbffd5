"""Real ``mspctl`` subprocesses on the slow fixture project (this machine, local connection),
and a check that no process of theirs outlives them."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pgserver import db_url, pg_url, postgres_url
from processes import processes_mentioning

ROOT = Path(__file__).resolve().parents[2]
SLOW = ROOT / "tests" / "fixtures" / "projects" / "slow"
__all__ = ["Mspctl", "db_url", "pg_url", "postgres_url", "processes_mentioning"]


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:  # a -partial.json renamed meanwhile
        return ""


@dataclass
class Mspctl:
    """Runs ``mspctl`` as a real process with a private state dir; remembers what it started."""

    project: Path
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def environ(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "MSPCTL_PROJECT_DIR": str(self.project),
            "MSPCTL_HOME": str(self.home),
            "MSPCTL_DB_URL": "",
            **self.env,
            **extra,
        }

    def start(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mspctl", *args],
            env=self.environ(**extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def run(
        self, *args: str, timeout: float = 120, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mspctl", *args],
            env=self.environ(**extra),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def runs(self) -> list[dict[str, Any]]:
        listed = self.run("runs", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        return list(json.loads(listed.stdout))

    def wait_first_task(self, proc: subprocess.Popen[str], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(
                '"runner_on_ok"' in _text(e)
                for e in self.home.glob("runs/*/artifacts/*/job_events/*.json")
            ):
                time.sleep(1)  # into "Take a long time"
                return
            if proc.poll() is not None:
                pytest.fail(f"mspctl ended early: {proc.communicate()}")
            time.sleep(0.2)
        pytest.fail("the first task never finished")

    def survivors(self) -> dict[int, str]:
        return processes_mentioning(str(self.home), self.started)

    def end_all(self) -> dict[int, str]:
        """End every process this test started (by PID); returns the survivors it found."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        left = self.survivors()
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return left


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[Mspctl]:
    """The slow project and a state dir, both under a path with a space."""
    base = tmp_path / "with space"
    shutil.copytree(SLOW, base / "project")
    runner = Mspctl(base / "project", base / "home")
    yield runner
    left = runner.end_all()
    assert not left, f"processes left behind: {left}"
