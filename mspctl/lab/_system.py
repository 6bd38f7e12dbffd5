"""Small system helpers for the lab: running tools, locks, processes, mounts.

Everything runs commands as argument lists (never through a shell) and turns failures into
:class:`LabError`, whose one-line message is what the CLI prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from mspctl.errors import ExitCode, MspctlError

# Where the host's administration tools live when PATH (cron, CI, sudo -E) misses them.
_SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")

# Debian packages that bring each tool the lab drives; scripts/setup-host installs them.
TOOL_PACKAGES: dict[str, str] = {
    "ip": "iproute2",
    "nft": "nftables",
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "zstd": "zstd",
    "tar": "tar",
    "mount": "mount",
    "umount": "mount",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


class LabError(MspctlError):
    """The lab could not be brought up, inspected or torn down (exit code 1)."""

    exit_code = ExitCode.FAILED


def require_root(action: str) -> None:
    """Fail with one clear line when not root: the lab needs namespaces, mounts and nspawn."""
    if os.geteuid() != 0:
        raise LabError(
            f"`mspctl lab {action}` needs root: it creates network namespaces, overlay mounts, "
            "nftables rules and systemd-nspawn containers (run it as root, e.g. with sudo)"
        )


def find_tool(name: str) -> str | None:
    """Absolute path of a host tool, looking in PATH and then in the sbin directories."""
    found = shutil.which(name)
    if found:
        return found
    for directory in _SBIN_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require_tools(*names: str) -> None:
    missing = [name for name in names if find_tool(name) is None]
    if missing:
        packages = sorted({TOOL_PACKAGES.get(name, name) for name in missing})
        raise LabError(
            f"missing host tools: {', '.join(missing)}; run scripts/setup-host "
            f"(installs {' '.join(packages)})"
        )


def tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        require_tools(name)
    assert path is not None
    return path


def run(
    argv: Sequence[str],
    *,
    input_text: str | None = None,
    check: bool = True,
    timeout: float | None = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command (first element resolved with :func:`tool`), capturing its output."""
    args = [tool(argv[0]), *argv[1:]]
    try:
        proc = subprocess.run(
            args,
            input=input_text,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"`{' '.join(argv)}` timed out after {timeout} s") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit code {proc.returncode}"
        raise LabError(f"`{' '.join(argv)}` failed: {last}")
    return proc


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock held for the duration of the block (waits for others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# -- processes ------------------------------------------------------------------------------
def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def process_cmdlines() -> Iterator[tuple[int, list[str]]]:
    """(pid, argv) of every process we can read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if raw:
            yield int(entry.name), raw.decode(errors="replace").rstrip("\0").split("\0")


def pids_in_netns(netns_path: Path) -> list[int]:
    """Processes whose network namespace is the one bound at ``netns_path``."""
    try:
        target = netns_path.stat()
    except OSError:
        return []
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            st = (entry / "ns" / "net").stat()
        except OSError:
            continue
        if (st.st_ino, st.st_dev) == (target.st_ino, target.st_dev):
            pids.append(int(entry.name))
    return pids


def kill(pids: Sequence[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def wait_gone(pids: Sequence[int], timeout: float) -> list[int]:
    """Wait until the processes have exited; returns those still alive at the deadline."""
    deadline = time.monotonic() + timeout
    alive = [pid for pid in pids if pid_alive(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if pid_alive(pid)]
    return alive


# -- mounts ---------------------------------------------------------------------------------
def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below ``root``, deepest first (the order to unmount them)."""
    prefix = str(root).rstrip("/")
    found: list[Path] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 5:
            continue
        point = _unescape_mount(fields[4])
        if point == prefix or point.startswith(prefix + "/"):
            found.append(Path(point))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def _unescape_mount(text: str) -> str:
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        text = text.replace(code, char)
    return text


def unmount_all_under(root: Path) -> None:
    for _ in range(3):  # a mount stacked twice needs two passes
        points = mounts_under(root)
        if not points:
            return
        for point in points:
            if run(["umount", str(point)], check=False).returncode != 0:
                run(["umount", "--lazy", str(point)], check=False)
    left = mounts_under(root)
    if left:
        raise LabError(f"could not unmount {left[0]}")


def remove_tree(path: Path) -> None:
    """rm -rf that refuses to cross into a mount still present below ``path``."""
    if mounts_under(path):
        unmount_all_under(path)
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        raise LabError(f"could not remove {path}")
