# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Debian patching, shared by ``mspctl.policy.apt_upgrade`` (applies) and ``patch_status``.

Pure functions (selection, parsing of ``apt-get -s``, reboot decision, run records) plus one
:class:`AptBackend` that talks to apt (python3-apt for reading, ``apt-get``/``apt-mark`` through
``module.run_command`` for everything else). Unit tests replace the backend with a fake.

State kept on the host, in ``STATE_DIR`` (bookkeeping, never reported as a change):

``last-run.json``
    the last patch run that was allowed to change the host (inside its window or forced):
    ``last_run``, ``last_upgrade`` (last time packages changed) and ``upgrade_boot_id`` (the
    boot it happened in), ``upgraded`` (that run's packages, before/after), ``scope``,
    ``holds`` (the holds mspctl manages), ``forced``.
``pending-seen.json``
    when each pending update (name=version) was first seen, for the deferral control.
``apt-lists.stamp``
    when the module last refreshed the package lists.
``last-reboot-request``
    when the role last asked for a reboot (written by its reboot command).

Runs on the managed host's Python (Debian 12: 3.11); standard library plus python3-apt.
"""

from __future__ import annotations

import datetime
import fnmatch
import glob
import os
import re
from typing import TYPE_CHECKING, Any

from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_common import module_runner

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping

    from ansible.module_utils.basic import AnsibleModule

STATE_DIR = "/var/lib/mspctl/patching"
LAST_RUN = "last-run.json"
SEEN = "pending-seen.json"
LISTS_STAMP = "apt-lists.stamp"
REBOOT_REQUIRED_FILE = "/run/reboot-required"
REBOOT_REQUIRED_PKGS = "/run/reboot-required.pkgs"
REBOOT_REQUEST_FILE = "last-reboot-request"
SCOPES = ("security", "all")
REBOOT_POLICIES = ("never", "if_required", "always")
# Upgrading these needs a reboot to take effect (kernel, C library, init, message bus,
# CPU microcode). The apply module writes /run/reboot-required for them, as Debian's
# kernel hooks and Ubuntu's update-notifier do, so every reader (monitoring included) agrees.
DEFAULT_REBOOT_PACKAGES = (
    "linux-image-*",
    "libc6",
    "systemd",
    "dbus",
    "dbus-broker",
    "intel-microcode",
    "amd64-microcode",
)
APT_ENV = {
    "DEBIAN_FRONTEND": "noninteractive",
    "APT_LISTCHANGES_FRONTEND": "none",
    "NEEDRESTART_MODE": "l",
    "LC_ALL": "C",
}
DPKG_OPTIONS = (
    "-o",
    "Dpkg::Options::=--force-confdef",
    "-o",
    "Dpkg::Options::=--force-confold",
    "-o",
    "DPkg::Lock::Timeout=300",
)
_INST_RE = re.compile(r"^Inst (\S+) (?:\[([^\]]*)\] )?\((\S+) (.*)\)")
_REMV_RE = re.compile(r"^Remv (\S+)(?: \[([^\]]*)\])?")


class PatchingError(Exception):
    """apt could not be read or driven; the message says what failed."""


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def iso(instant: datetime.datetime | None) -> str | None:
    return instant.astimezone(datetime.timezone.utc).isoformat() if instant else None


def parse_iso(text: Any) -> datetime.datetime | None:
    if not text:
        return None
    try:
        value = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


# --------------------------------------------------------------------------- package model


class Update:
    """An installed package with a newer version available.

    ``candidate`` is apt's candidate (pinning applied); ``security`` the highest version newer
    than the installed one and not newer than the candidate that comes from a ``-security``
    suite, or None.
    """

    __slots__ = ("candidate", "held", "installed", "name", "security")

    def __init__(
        self,
        name: str,
        installed: str,
        candidate: str,
        security: str | None = None,
        held: bool = False,
    ) -> None:
        self.name = name
        self.installed = installed
        self.candidate = candidate
        self.security = security
        self.held = held

    @property
    def kind(self) -> str:
        return "security" if self.security else "other"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "installed": self.installed,
            "candidate": self.candidate,
            "security": self.security,
            "kind": self.kind,
            "held": self.held,
        }

    def __repr__(self) -> str:
        return (
            f"Update({self.name!r}, {self.installed!r} -> {self.candidate!r}, "
            f"security={self.security!r}, held={self.held!r})"
        )


def is_security_origin(archive: str | None, codename: str | None, label: str | None) -> bool:
    """Whether a package file comes from a security suite (``bookworm-security``...)."""
    return (
        (archive or "").endswith("-security")
        or (codename or "").endswith("-security")
        or label == "Debian-Security"
    )


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Whether package ``name`` (``pkg`` or ``pkg:arch``) matches one of the glob patterns."""
    bare = name.split(":", 1)[0]
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(bare, p) for p in patterns)


def expand(patterns: Iterable[str], names: Iterable[str]) -> list[str]:
    """The names among ``names`` matched by ``patterns``, sorted."""
    return sorted(n for n in names if matches(n, patterns))


def select(
    updates: Iterable[Update], scope: str, held: Collection[str], exclusions: Iterable[str]
) -> dict[str, str]:
    """Target versions ``{name: version}`` of a run: in scope, not held, not excluded."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    targets: dict[str, str] = {}
    for update in updates:
        if update.name in held or matches(update.name, exclusions):
            continue
        version = update.security if scope == "security" else update.candidate
        if version:
            targets[update.name] = version
    return targets


def split_pending(updates: Iterable[Update]) -> dict[str, list[str]]:
    """Pending updates by kind: ``{security: [...], other: [...], held: [...]}`` (names)."""
    result: dict[str, list[str]] = {"security": [], "other": [], "held": []}
    for update in sorted(updates, key=lambda u: u.name):
        result["held" if update.held else update.kind].append(update.name)
    return result


def parse_simulation(text: str) -> tuple[dict[str, list[str | None]], list[str]]:
    """Changes of an ``apt-get -s`` transaction: ``({name: [before, after]}, [removed])``.

    ``before`` is None for a new package.
    """
    changes: dict[str, list[str | None]] = {}
    removed: list[str] = []
    for line in text.splitlines():
        match = _INST_RE.match(line)
        if match:
            changes[match.group(1)] = [match.group(2) or None, match.group(3)]
            continue
        match = _REMV_RE.match(line)
        if match:
            removed.append(match.group(1))
    return changes, sorted(removed)


# --------------------------------------------------------------------------- run records


def update_seen(
    seen: Mapping[str, Any] | None, pending: Iterable[Update], now: datetime.datetime
) -> dict[str, Any]:
    """First-seen times of pending ``name=version`` updates; updates gone are forgotten."""
    result: dict[str, Any] = {}
    for update in pending:
        key = f"{update.name}={update.candidate}"
        result[key] = (seen or {}).get(key) or iso(now)
    return result


def oldest_seen(
    seen: Mapping[str, Any] | None, updates: Iterable[Update], now: datetime.datetime
) -> datetime.timedelta:
    """Age (timedelta) of the oldest of ``updates`` by first-seen time; now if never seen."""
    oldest = now
    for update in updates:
        first = parse_iso((seen or {}).get(f"{update.name}={update.candidate}"))
        if first is not None and first < oldest:
            oldest = first
    return now - oldest


# --------------------------------------------------------------------------- reboots


def boot_time(now: datetime.datetime | None = None) -> datetime.datetime | None:
    """When this host (or container) booted: the start of its PID 1, approximately.

    /proc/uptime and a process's start time (clock ticks since the kernel booted) count on the
    same clock, so ``now - (uptime - start of PID 1)`` is right for a container as well (the
    kernel's ``btime`` is not: it is the host's boot and drifts from the wall clock). For
    "did the host reboot since X" use :func:`boot_id`, which is exact.
    """
    try:
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        with open("/proc/1/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        start = int(fields[19]) / float(os.sysconf("SC_CLK_TCK"))  # field 22 of proc(5)
    except (OSError, IndexError, ValueError):
        return None
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now - datetime.timedelta(seconds=max(uptime - start, 0.0))


def boot_id() -> str | None:
    """The current boot's random ID (systemd-nspawn gives each container boot its own)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def kernel_pending(boot: datetime.datetime | None) -> str | None:
    """A kernel image installed after boot and not the running one (a VM/metal host), or None."""
    running = "/boot/vmlinuz-" + os.uname()[2]
    if boot is None:
        return None
    for path in sorted(glob.glob("/boot/vmlinuz-*")):
        try:
            installed = os.stat(path).st_ctime
        except OSError:
            continue
        if path != running and installed > boot.timestamp():
            return os.path.basename(path)
    return None


def reboot_state(
    policy: str,
    record: Mapping[str, Any] | None,
    boot: datetime.datetime | None = None,
    kernel: str | None = None,
    current_boot_id: str | None = None,
) -> dict[str, Any]:
    """Whether a reboot is required, and due under ``policy``.

    Required: ``/run/reboot-required`` exists (Debian's hooks and the apply module write it) or
    a new kernel was installed since boot. Due: ``if_required`` when required; ``always`` also
    when the patch runs upgraded packages during the current boot (the run ``record`` keeps the
    boot ID of its last upgrade); ``never`` never.
    """
    if policy not in REBOOT_POLICIES:
        raise ValueError(f"reboot policy must be one of {REBOOT_POLICIES}, got {policy!r}")
    packages = sorted(set(read_lines(REBOOT_REQUIRED_PKGS)))
    required = os.path.exists(REBOOT_REQUIRED_FILE) or kernel is not None
    record = record or {}
    last_upgrade = parse_iso(record.get("last_upgrade"))
    if not last_upgrade:
        upgraded_since_boot = False
    elif record.get("upgrade_boot_id") and current_boot_id:
        upgraded_since_boot = record["upgrade_boot_id"] == current_boot_id
    else:
        upgraded_since_boot = bool(boot and last_upgrade > boot)
    if policy == "never":
        due = False
    elif policy == "if_required":
        due = required
    else:
        due = required or upgraded_since_boot
    return {
        "required": required,
        "packages": packages + ([kernel] if kernel else []),
        "boot_time": iso(boot),
        "upgraded_since_boot": upgraded_since_boot,
        "policy": policy,
        "due": due,
    }


def read_lines(path: str) -> list[str]:
    try:
        with open(path) as handle:
            return [line.strip() for line in handle if line.strip()]
    except OSError:
        return []


def mark_reboot_required(upgraded: Iterable[str], patterns: Iterable[str]) -> list[str]:
    """Write /run/reboot-required(.pkgs) for upgraded packages that need a reboot."""
    names = expand(patterns, upgraded)
    if not names:
        return []
    with open(REBOOT_REQUIRED_FILE, "w") as handle:
        handle.write("*** System restart required ***\n")
    packages = set(read_lines(REBOOT_REQUIRED_PKGS)) | set(n.split(":", 1)[0] for n in names)
    with open(REBOOT_REQUIRED_PKGS, "w") as handle:
        handle.write("".join(name + "\n" for name in sorted(packages)))
    return names


# --------------------------------------------------------------------------- apt


class Installed:
    __slots__ = ("auto", "held", "version")

    def __init__(self, version: str, held: bool = False, auto: bool = False) -> None:
        self.version = version
        self.held = held
        self.auto = auto


class AptBackend:
    """apt on this host: python3-apt to read, apt-get/apt-mark to act."""

    def __init__(
        self, module: AnsibleModule, state_dir: str = STATE_DIR, install_python_apt: bool = False
    ) -> None:
        self.module = module
        self._run = module_runner(module, APT_ENV)
        self.state_dir = state_dir
        self.install_python_apt = install_python_apt

    # ---- package lists
    def lists_age(self, now: datetime.datetime) -> float:
        """Seconds since the package lists were last refreshed (by us or by apt's hook)."""
        stamps = [
            os.path.join(self.state_dir, LISTS_STAMP),
            "/var/lib/apt/periodic/update-success-stamp",
        ]
        latest = 0.0
        for path in stamps:
            try:
                latest = max(latest, os.stat(path).st_mtime)
            except OSError:
                continue
        return now.timestamp() - latest

    def refresh_lists(self) -> None:
        rc, out, err = self._run(["apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=300"])
        if rc != 0:
            raise PatchingError(f"apt-get update failed: {(err or out).strip()}")
        stamp = os.path.join(self.state_dir, LISTS_STAMP)
        if not os.path.isdir(self.state_dir):
            os.makedirs(self.state_dir, 0o755)
        with open(stamp, "w") as handle:
            handle.write("")

    # ---- reading
    def packages(self) -> tuple[dict[str, Installed], list[Update]]:
        """``(installed, updates)``: ``{name: Installed}`` and the list of :class:`Update`."""
        apt_pkg = self._apt_pkg()
        apt_pkg.init_config()
        apt_pkg.init_system()
        try:
            cache = apt_pkg.Cache(None)
            depcache = apt_pkg.DepCache(cache)
        except SystemError as exc:
            raise PatchingError(f"cannot read the apt cache: {exc}") from exc
        hold = apt_pkg.SELSTATE_HOLD
        installed: dict[str, Installed] = {}
        updates: list[Update] = []
        for pkg in cache.packages:
            current = pkg.current_ver
            if current is None:
                continue
            name = pkg.get_fullname(True)
            held = pkg.selected_state == hold
            installed[name] = Installed(current.ver_str, held, depcache.is_auto_installed(pkg))
            candidate = depcache.get_candidate_ver(pkg)
            if (
                candidate is None
                or apt_pkg.version_compare(candidate.ver_str, current.ver_str) <= 0
            ):
                continue
            security: str | None = None
            for version in pkg.version_list:
                if apt_pkg.version_compare(version.ver_str, current.ver_str) <= 0:
                    continue
                if apt_pkg.version_compare(version.ver_str, candidate.ver_str) > 0:
                    continue  # pinned away: never above the candidate
                if not any(
                    is_security_origin(f.archive, f.codename, f.label)
                    for f, _index in version.file_list
                ):
                    continue
                if security is None or apt_pkg.version_compare(version.ver_str, security) > 0:
                    security = version.ver_str
            updates.append(Update(name, current.ver_str, candidate.ver_str, security, held))
        return installed, updates

    def _apt_pkg(self) -> Any:
        try:
            import apt_pkg

            return apt_pkg
        except ImportError:
            if not self.install_python_apt:
                raise PatchingError(
                    "python3-apt is not installed (apt-get install python3-apt)"
                ) from None
        # as ansible.builtin.apt does: install the library it reads apt with, then import it
        rc, out, err = self._run(
            [
                "apt-get",
                "install",
                "-q",
                "-y",
                "--no-install-recommends",
                "python3-apt",
                *DPKG_OPTIONS,
            ]
        )
        if rc != 0:
            raise PatchingError(f"cannot install python3-apt: {(err or out).strip()}")
        import importlib

        importlib.invalidate_caches()
        try:
            import apt_pkg
        except ImportError:
            raise PatchingError(
                "python3-apt was installed but this Python cannot import it"
            ) from None
        return apt_pkg

    # ---- acting
    def simulate(self, targets: Mapping[str, str]) -> tuple[dict[str, list[str | None]], list[str]]:
        rc, out, err = self._run(self._install_command(targets, simulate=True))
        if rc != 0:
            raise PatchingError(f"apt-get cannot plan the upgrade: {(err or out).strip()}")
        return parse_simulation(out)

    def install(self, targets: Mapping[str, str]) -> str:
        rc, out, err = self._run(self._install_command(targets, simulate=False))
        if rc != 0:
            raise PatchingError(f"apt-get install failed (rc {rc}): {(err or out).strip()}")
        return out

    def mark(self, action: str, names: Iterable[str]) -> None:
        """``apt-mark hold|unhold|auto`` for ``names``."""
        if not names:
            return
        rc, out, err = self._run(["apt-mark", action, *list(names)])
        if rc != 0:
            raise PatchingError(f"apt-mark {action} failed: {(err or out).strip()}")

    def run_hook(self, command: str) -> dict[str, Any]:
        rc, out, err = self._run(["/bin/sh", "-c", command])
        return {"command": command, "rc": rc, "stdout": out[-2000:], "stderr": err[-2000:]}

    def _install_command(self, targets: Mapping[str, str], simulate: bool) -> list[str]:

        command = ["apt-get", "install", "-q", "-y", "--only-upgrade", "--no-install-recommends"]
        if simulate:
            command[2:2] = ["-s", "-o", "Debug::NoLocking=true"]
        command.extend(DPKG_OPTIONS)
        command.extend(f"{name}={version}" for name, version in sorted(targets.items()))
        return command
