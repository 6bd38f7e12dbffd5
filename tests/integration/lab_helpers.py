"""Helpers for tests that run on lab hosts (like ``click.testing``): used by the ``lab`` pytest
fixture in ``tests/integration/conftest.py`` and by the lab's own tests.

Test labs are named after the test process (``pytest-<pid>[-suffix]``) so concurrent test runs
on one machine, pytest-xdist workers included, never share or tear down each other's hosts;
labs of test processes that died are removed by :func:`remove_dead_test_labs`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mspctl.lab import RUNTIME_TOOLS, LabHost, LabState, all_lab_names, down
from mspctl.lab._system import find_tool
from mspctl.lab.hosts import SUPERVISOR_MODULE, ssh_command
from mspctl.lab.state import run_root, var_root

TEST_LAB_RE = re.compile(r"^pytest-(\d+)(?:-[a-z0-9-]+)?$")


def lab_unavailable() -> str | None:
    """Why lab hosts cannot run here, or None."""
    if os.geteuid() != 0:
        return (
            "lab tests need root (network namespaces, overlay mounts, systemd-nspawn); "
            "run them as root, as CI does"
        )
    missing = [t for t in (*RUNTIME_TOOLS, "debootstrap", "zstd") if find_tool(t) is None]
    if missing:
        return f"lab tests need {', '.join(missing)}: run scripts/setup-host"
    return None


def require_lab() -> None:
    """Skip the calling test when the lab cannot run; under CI (``CI`` set), fail instead."""
    import pytest

    reason = lab_unavailable()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the lab tests: {reason}", pytrace=False)
    pytest.skip(reason)


def test_lab_name(suffix: str = "") -> str:
    """A lab name owned by this process: ``pytest-<pid>[-suffix]``."""
    return f"pytest-{os.getpid()}" + (f"-{suffix}" if suffix else "")


test_lab_name.__test__ = False  # type: ignore[attr-defined]  # not a test for pytest


def remove_dead_test_labs() -> list[str]:
    """Take down labs of earlier test runs whose process is gone (a killed pytest)."""
    removed = []
    for name in all_lab_names():
        match = TEST_LAB_RE.match(name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            down(name)
            removed.append(name)
    return removed


def remains(name: str, slot: int) -> list[str]:
    """Everything of lab ``name`` still on this machine: namespaces, mounts, links, nft table,
    processes, directories. Found with plain tools, not with the lab's own discovery code."""
    found: list[str] = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    pattern = re.compile(rf"^mspctl-lab-{re.escape(name)}-\d\d\b")
    found += [
        f"netns {line.split()[0]}" for line in netns.stdout.splitlines() if pattern.match(line)
    ]
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if "mspctl" in point and f"/{name}/" in point + "/":
            found.append(f"mount {point}")
    found += [
        f"link {link}"
        for link in sorted(os.listdir("/sys/class/net"))
        if link == f"mspl{slot}" or re.fullmatch(rf"mspl{slot}v\d+", link)
    ]
    tables = subprocess.run(
        ["nft", "list", "tables"], capture_output=True, text=True, check=False
    ).stdout
    table = "mspctl_lab_" + name.replace("-", "_")
    found += [f"nft {line}" for line in tables.splitlines() if line.split()[-1:] == [table]]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        text = " ".join(argv)
        if ("systemd-nspawn" in argv[0] and f"/run/netns/mspctl-lab-{name}-" in text) or (
            SUPERVISOR_MODULE in text and f"--lab {name} " in text
        ):
            found.append(f"process {proc.name}: {text[:100]}")
    for path in (run_root() / name, var_root() / name):
        if path.exists():
            found.append(f"path {path}")
    return found


@dataclass(frozen=True)
class Lab:
    """A running lab: its state, its inventory and ways to reach its hosts."""

    state: LabState

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def inventory(self) -> Path:
        assert self.state.inventory is not None, "this lab was started without an inventory"
        return self.state.inventory

    @property
    def hosts(self) -> list[LabHost]:
        return self.state.hosts

    def host(self, name: str) -> LabHost:
        return next(h for h in self.hosts if h.name == name)

    def ssh(
        self, host: LabHost, command: str, *, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command on ``host`` as root over SSH (host key checked)."""
        proc = subprocess.run(
            ssh_command(self.state, host, command),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
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
        timeout: float = 1800,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ansible-playbook (from this Python's environment) on the lab, tuned as
        ``mspctl apply --engine <engine>`` tunes it (``mitogen``, ``tuned`` or ``stock``)."""
        from mspctl.runner import Engine, engine_env

        full_env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")
        full_env |= engine_env(Engine(engine), forks=10, fact_cache_dir=None)
        full_env |= env or {}
        command: Sequence[str] = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory or self.inventory),
            str(playbook),
            *args,
        ]
        return subprocess.run(
            command, capture_output=True, text=True, env=full_env, timeout=timeout, check=False
        )
