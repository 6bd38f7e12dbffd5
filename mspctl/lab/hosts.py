"""Lab hosts: an overlay root per host, its identity, its supervised ``systemd-nspawn``.

Each host boots the shared read-only image through its own overlay (``upper``/``work`` under
``/var/lib/mspctl/lab/<lab>/<host>/``) with its own hostname, machine-id, SSH host key and
``/etc/hosts``. nspawn runs with ``--register=no --keep-unit`` (this machine's PID 1 is not
systemd and there is no system bus) inside the host's prepared network namespace.

A shared pool of downloaded packages per distro is overlaid on the guests' apt archive
directory: guests read what earlier runs downloaded and write new packages to their own layer,
which ``down`` adds to the pool. Converging a role a second time downloads nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mspctl.lab import rootfs
from mspctl.lab._system import (
    LabError,
    kill,
    pid_alive,
    pids_in_netns,
    process_cmdlines,
    run,
    tool,
    unmount_all_under,
    wait_gone,
)
from mspctl.lab.state import LabHost, LabState, netns_re

SUPERVISOR_MODULE = "mspctl.lab.supervisor"


# -- preparing a host's root ----------------------------------------------------------------
def generate_lab_key(state: LabState) -> str:
    """The lab's root SSH key pair; returns the public key."""
    state.ssh_key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not state.ssh_key.exists():
        run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"mspctl-lab-{state.name}",
                "-f",
                str(state.ssh_key),
            ]
        )
    return state.ssh_key.with_suffix(".pub").read_text().strip()


def etc_hosts(state: LabState, host: LabHost) -> str:
    lines = [
        "127.0.0.1\tlocalhost",
        f"127.0.1.1\t{host.name}",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "",
        f"# mspctl lab {state.name}",
        *(f"{h.ip}\t{h.name}" for h in state.hosts),
        "",
        "# package mirror, resolved by `mspctl lab up`",
        *(f"{addr}\t{name}" for name, addr in sorted(state.mirror_addresses.items())),
    ]
    return "\n".join(lines) + "\n"


def prepare_root(
    state: LabState, host: LabHost, image: rootfs.Image, public_key: str, dns: list[str]
) -> str:
    """Mount the host's overlay root and give it its identity; returns its known_hosts line."""
    base = state.host_dir(host)
    for sub in ("upper", "work", "root", "apt"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={image.root},upperdir={base / 'upper'},workdir={base / 'work'}",
            str(base / "root"),
        ]
    )
    root = base / "root"
    # a container may not mount fusectl: when this machine has /sys/fs/fuse/connections
    # (the fuse module loaded by anything), the guest's mount unit would fail, and a failed unit
    # fails the monitoring control that every lab test relies on
    fusectl = root / "etc/systemd/system/sys-fs-fuse-connections.mount"
    if not fusectl.is_symlink():
        fusectl.symlink_to("/dev/null")
    (root / "etc/hostname").write_text(host.name + "\n")
    (root / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
    (root / "etc/hosts").write_text(etc_hosts(state, host))
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink():
        resolv.unlink()
    resolv.write_text("".join(f"nameserver {ip}\n" for ip in dns))
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    authorized = ssh_dir / "authorized_keys"
    authorized.write_text(public_key + "\n")
    authorized.chmod(0o600)
    key = root / "etc/ssh/ssh_host_ed25519_key"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host.name}", "-f", str(key)])
    host_key = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    return f"{host.name},{host.ip} {host_key}"


def nspawn_command(state: LabState, host: LabHost) -> list[str]:
    base = state.host_dir(host)
    pool = rootfs.apt_pool(state.distro)
    pool.mkdir(parents=True, exist_ok=True)
    return [
        tool("systemd-nspawn"),
        "--quiet",
        "--boot",
        "--register=no",
        "--keep-unit",
        f"--directory={base / 'root'}",
        f"--machine={host.name}",
        f"--hostname={host.name}",
        f"--network-namespace-path=/run/netns/{host.netns}",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--console=read-only",
        f"--overlay={pool}:{base / 'apt'}:/var/cache/apt/archives",
    ]


# -- running --------------------------------------------------------------------------------
def start(state: LabState, host: LabHost) -> int:
    """Start the host's supervisor (detached); returns its pid."""
    log = state.log_file(host)
    log.parent.mkdir(parents=True, exist_ok=True)
    pidfile = state.run_dir / "pids" / f"{host.name}.pid"
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        SUPERVISOR_MODULE,
        "--lab",
        state.name,
        "--host",
        host.name,
        "--pidfile",
        str(pidfile),
        "--log",
        str(log),
        "--",
        *nspawn_command(state, host),
    ]
    proc = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, timeout=30
    )
    if proc.returncode != 0 or not pidfile.exists():
        raise LabError(f"could not start {host.name}: {proc.stderr.strip() or proc.returncode}")
    return int(pidfile.read_text())


def log_tail(state: LabState, host: LabHost, lines: int = 5) -> str:
    try:
        text = state.log_file(host).read_text(errors="replace")
    except OSError:
        return ""
    tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(tail)


def ssh_banner(ip: str, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((ip, 22), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def ssh_command(state: LabState, host: LabHost, *remote: str) -> list[str]:
    return [
        tool("ssh"),
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"IdentityFile={state.ssh_key}",
        "-o",
        f"UserKnownHostsFile={state.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "ConnectTimeout=5",
        f"root@{host.ip}",
        *remote,
    ]


def wait_ready(state: LabState, timeout: float) -> dict[str, list[str]]:
    """Wait until every host accepts an SSH login (key and host key both checked) and has
    finished booting; returns, per host, the units started again (see ``settle_boot``)."""
    deadline = time.monotonic() + timeout
    restarted: dict[str, list[str]] = {}

    def one(host: LabHost) -> None:
        while True:
            if not pid_alive(host.supervisor_pid):
                raise LabError(f"{host.name} stopped while booting: {log_tail(state, host)}")
            if ssh_banner(host.ip):
                proc = subprocess.run(
                    ssh_command(state, host, "true"),
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=30,
                )
                if proc.returncode == 0:
                    restarted[host.name] = settle_boot(state, host, deadline)
                    return
            if time.monotonic() > deadline:
                raise LabError(
                    f"{host.name} ({host.ip}) not reachable over SSH after {timeout:.0f} s: "
                    f"{log_tail(state, host)}"
                )
            time.sleep(0.1)

    with ThreadPoolExecutor(max_workers=max(1, len(state.hosts))) as pool:
        for future in [pool.submit(one, host) for host in state.hosts]:
            future.result()
    return {name: units for name, units in restarted.items() if units}


def settle_boot(state: LabState, host: LabHost, deadline: float) -> list[str]:
    """Wait for the host's boot to end; a unit that failed during it is started once more.

    Early-boot units of a container (``systemd-remount-fs``, ``systemd-tmpfiles-setup-dev*``)
    fail now and then when many hosts boot at once on a loaded machine, and a failed unit is a
    real finding for monitoring (``monitoring.failed_units``): a lab host must start clean.
    A unit that fails again is a broken image, not load: ``LabError`` with its journal."""

    def run(*remote: str) -> subprocess.CompletedProcess[str]:
        left = max(5.0, deadline - time.monotonic())
        try:
            return subprocess.run(
                ssh_command(state, host, *remote),
                capture_output=True,
                text=True,
                check=False,
                timeout=left,
            )
        except subprocess.TimeoutExpired:
            raise LabError(
                f"{host.name} ({host.ip}) had not finished booting after {left:.0f} s"
                f" ({' '.join(remote)}): {log_tail(state, host)}"
            ) from None

    run("systemctl", "is-system-running", "--wait")  # "degraded" exits non-zero: read below
    listed = run("systemctl", "list-units", "--failed", "--no-legend", "--plain", "--full")
    failed = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    for unit in failed:
        run("systemctl", "reset-failed", unit)
        if run("systemctl", "start", unit).returncode != 0:
            journal = run("journalctl", "--unit", unit, "--lines", "5", "--no-pager", "-o", "cat")
            raise LabError(
                f"{host.name}: {unit} failed at boot and again when started: "
                + " | ".join(journal.stdout.strip().splitlines())
            )
    return failed


# -- stopping and cleaning ------------------------------------------------------------------
def lab_processes(name: str) -> tuple[list[int], list[int]]:
    """(supervisor pids, nspawn pids) of lab ``name``, found by their command lines."""
    supervisors: list[int] = []
    nspawns: list[int] = []
    pattern = netns_re(name)
    for pid, argv in process_cmdlines():
        if SUPERVISOR_MODULE in argv and _arg_after(argv, "--lab") == name:
            supervisors.append(pid)
        elif argv and argv[0].endswith("systemd-nspawn"):
            for arg in argv:
                if arg.startswith("--network-namespace-path=/run/netns/"):
                    netns = arg.rsplit("/", 1)[-1]
                    if pattern.match(netns):
                        nspawns.append(pid)
    return supervisors, nspawns


def lab_names_in_processes() -> set[str]:
    names: set[str] = set()
    for _pid, argv in process_cmdlines():
        if SUPERVISOR_MODULE in argv and (lab := _arg_after(argv, "--lab")):
            names.add(lab)
    return names


def _arg_after(argv: list[str], flag: str) -> str | None:
    with contextlib.suppress(ValueError, IndexError):
        return argv[argv.index(flag) + 1]
    return None


def stop_all(name: str, netns_paths: list[Path], graceful: float = 5.0) -> None:
    """Stop every host of lab ``name``: power off, then terminate, then kill what is left."""
    supervisors, nspawns = lab_processes(name)
    kill(supervisors, signal.SIGTERM)  # each asks its nspawn to power the guest off
    alive = wait_gone(supervisors + nspawns, graceful)
    if alive:
        kill(alive, signal.SIGTERM)  # a second SIGTERM makes nspawn terminate at once
        alive = wait_gone(alive, 2.0)
    # Anything left, including guests whose nspawn or supervisor was killed before: kill the
    # supervisors first so nothing restarts, then every process in the hosts' namespaces.
    supervisors, nspawns = lab_processes(name)
    kill(supervisors, signal.SIGKILL)
    in_netns = [pid for path in netns_paths for pid in pids_in_netns(path)]
    kill(in_netns, signal.SIGKILL)
    kill(nspawns, signal.SIGKILL)
    left = wait_gone([*supervisors, *in_netns, *nspawns], 5.0)
    if left:
        raise LabError(f"lab {name}: processes {left} survived SIGKILL")


def harvest_packages(state_dir: Path, distro: str | None) -> int:
    """Add the packages the hosts downloaded to the shared pool; returns how many."""
    if distro is None or not state_dir.is_dir():
        return 0
    pool = rootfs.apt_pool(distro)
    pool.mkdir(parents=True, exist_ok=True)
    added = 0
    for deb in state_dir.glob("*/apt/*.deb"):
        if not deb.is_file() or deb.is_symlink() or (pool / deb.name).exists():
            continue
        tmp = pool / f".{deb.name}.{os.getpid()}.tmp"
        try:
            try:
                os.link(deb, tmp)
            except OSError:
                shutil.copy2(deb, tmp)
            tmp.replace(pool / deb.name)
            added += 1
        except OSError:
            tmp.unlink(missing_ok=True)
    return added


def remove_host_trees(var_dir: Path) -> None:
    if var_dir.exists():
        unmount_all_under(var_dir)
        shutil.rmtree(var_dir, ignore_errors=True)
        if var_dir.exists():
            raise LabError(f"could not remove {var_dir}")
