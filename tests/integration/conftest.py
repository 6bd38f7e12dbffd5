"""The ``lab`` fixture: real Debian hosts for the whole test session.

Tests that need real hosts take the ``lab`` fixture and carry ``@pytest.mark.lab``. The lab is
named after this process (``pytest-<pid>``) so concurrent test runs on one machine, pytest-xdist
workers included, never share or tear down each other's hosts; labs of test runs that died are
removed at the start of the next one.

Without root or the host tools the lab tests are skipped with the reason, except under CI
(``CI`` set), where a missing prerequisite is an error: a green CI must not hide it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from mspctl.lab import LabHost, LabState

VENV_BIN = Path(sys.executable).parent
LAB_DISTRO = os.environ.get("MSPCTL_LAB_DISTRO", "bookworm")
LAB_HOSTS = 3
TEST_LAB_RE = re.compile(r"^(?:pytest|pt[a-z]*)-(\d+)(?:-.*)?$")


def lab_unavailable() -> str | None:
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return (
            "lab tests need root (network namespaces, overlay mounts, systemd-nspawn); "
            "run them as root, as CI does"
        )
    from mspctl.lab import RUNTIME_TOOLS
    from mspctl.lab._system import find_tool

    missing = [t for t in (*RUNTIME_TOOLS, "debootstrap", "zstd") if find_tool(t) is None]
    if missing:
        return f"lab tests need {', '.join(missing)}: run scripts/setup-host"
    return None


def require_lab() -> None:
    reason = lab_unavailable()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the lab tests: {reason}", pytrace=False)
    pytest.skip(reason)


def test_lab_name(suffix: str = "") -> str:
    """A lab name owned by this process: ``pytest-<pid>[-suffix]``."""
    return f"pytest-{os.getpid()}" + (f"-{suffix}" if suffix else "")


test_lab_name.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def remove_dead_test_labs() -> None:
    """Take down labs of earlier test runs whose process is gone (a killed pytest)."""
    import mspctl.lab as domain

    for name in domain.all_lab_names():
        match = TEST_LAB_RE.match(name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            domain.down(name)


@dataclass(frozen=True)
class Lab:
    """A running lab: its state, inventory and helpers to reach its hosts."""

    state: LabState

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def inventory(self) -> Path:
        assert self.state.inventory is not None
        return self.state.inventory

    @property
    def hosts(self) -> list[LabHost]:
        return self.state.hosts

    def host(self, name: str) -> LabHost:
        return next(h for h in self.hosts if h.name == name)

    def ssh(
        self, host: LabHost, command: str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        from mspctl.lab.hosts import ssh_command

        proc = subprocess.run(
            ssh_command(self.state, host, command), capture_output=True, text=True, timeout=120
        )
        if check:
            assert proc.returncode == 0, f"{host.name}: {command}: {proc.stderr}{proc.stdout}"
        return proc

    def playbook(
        self,
        playbook: Path,
        *args: str,
        engine: str = "mitogen",
        inventory: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ansible-playbook from the venv on the lab (``engine`` mitogen or ssh)."""
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")
        if engine == "mitogen":
            import ansible_mitogen  # type: ignore[import-untyped]

            strategy = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
            env |= {"ANSIBLE_STRATEGY_PLUGINS": str(strategy), "ANSIBLE_STRATEGY": "mitogen_free"}
        command: Sequence[str] = [
            str(VENV_BIN / "ansible-playbook"),
            "-i",
            str(inventory or self.inventory),
            str(playbook),
            *args,
        ]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A session-wide lab of 3 hosts (``MSPCTL_LAB_DISTRO``, default bookworm)."""
    require_lab()
    import mspctl.lab as domain

    remove_dead_test_labs()
    name = test_lab_name()
    domain.down(name)
    inventories = tmp_path_factory.mktemp("lab-inventories")
    state = domain.up(name, LAB_HOSTS, LAB_DISTRO, inventories)
    try:
        yield Lab(state)
    finally:
        domain.down(name)
