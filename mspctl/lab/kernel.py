"""Kernel settings of this machine that the lab needs: set on ``up``, given back once no lab
remains (the machine's own value is saved in the lab's runtime dir the first time it is raised).

- IPv4 forwarding: the lab bridge's traffic to the package mirror is routed and masqueraded.
- inotify instances and watches: every booted host's systemd, journald, logind and path units
  (``cups.path``, ``systemd-ask-password-*.path``) hold inotify instances, and the kernel counts
  them per user across every container of the machine (the lab's hosts all run as root). Debian's
  default of 128 instances runs out at about a dozen hosts (two labs side by side): the next
  host's path units then fail ("Failed to enter waiting state: Too many open files"), and the
  monitoring policy rightly reports them as failed units. The floors are the ones kind and
  other container labs document for many systemd containers on one machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mspctl.lab.network import lab_bridges
from mspctl.lab.state import recorded_labs, run_root

PROC_SYS = Path("/proc/sys")


@dataclass(frozen=True)
class Setting:
    key: str  # under /proc/sys
    value: int
    floor: bool  # True: at least ``value`` (a larger setting is kept); False: exactly ``value``
    saved_as: str  # file name of the machine's own value in the lab's runtime dir

    @property
    def path(self) -> Path:
        return PROC_SYS / self.key


SETTINGS = (
    Setting("net/ipv4/ip_forward", 1, floor=False, saved_as="ip_forward.orig"),
    Setting("fs/inotify/max_user_instances", 1024, floor=True, saved_as="inotify_instances.orig"),
    Setting("fs/inotify/max_user_watches", 524288, floor=True, saved_as="inotify_watches.orig"),
)


def _wanted(setting: Setting, current: int) -> int | None:
    """The value to write, or None when the current one already does."""
    if setting.floor:
        return None if current >= setting.value else setting.value
    return None if current == setting.value else setting.value


def apply() -> None:
    """Set every lab setting this machine lacks, remembering the machine's value."""
    for setting in SETTINGS:
        current = setting.path.read_text().strip()
        wanted = _wanted(setting, int(current))
        if wanted is None:
            continue
        saved = run_root() / setting.saved_as
        if not saved.exists():
            run_root().mkdir(parents=True, exist_ok=True)
            saved.write_text(current + "\n")
        setting.path.write_text(f"{wanted}\n")


def restore_if_idle() -> None:
    """Give the machine its own settings back once no lab remains."""
    if recorded_labs() or lab_bridges():
        return
    for setting in SETTINGS:
        saved = run_root() / setting.saved_as
        if saved.exists():
            setting.path.write_text(saved.read_text())
            saved.unlink()
