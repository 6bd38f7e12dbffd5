# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host health checks of the monitoring policy, and their Prometheus text rendering.

One implementation, two callers:

* the collector (``roles/monitoring/files/mspctl-monitoring-collect``), run every minute by a
  systemd timer on each monitored host, imports this file (deployed next to it with
  ``patch_window.py`` and ``mspctl_common.py``) and writes the node exporter's textfile
  ``mspctl.prom``;
* the status module ``mspctl.policy.monitoring_status`` imports it as
  ``ansible_collections.mspctl.policy.plugins.module_utils.mspctl_monitoring`` to evaluate the
  same controls.

Standard library only (the targets run Debian's python3, 3.11 and later). Commands are run through
a ``run(argv) -> (rc, stdout, stderr)`` callable, so tests and the module can supply their own.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import TYPE_CHECKING, Any

# Deployed on a host next to the collector and mspctl_common.py (the role installs them
# together), it imports its sibling by plain name; as module_utils, by the collection's name.
try:
    from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_common import (
        load_json,
        process_runner,
    )
except ImportError:
    from mspctl_common import (  # type: ignore[import-not-found,no-redef]
        load_json,
        process_runner,
    )

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Protocol, TypedDict

    from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_common import Runner
    from ansible_collections.mspctl.policy.plugins.module_utils.patch_window import (
        Occurrence,
        Window,
    )

    class WindowEngine(Protocol):
        """What :func:`maintenance` needs of the patch window module (``patch_window``)."""

        def parse_window(self, spec: Mapping[str, Any]) -> Window: ...

        def current_or_next_occurrence(
            self, window: Window, now_utc: datetime.datetime
        ) -> Occurrence | None: ...

    class Context(TypedDict):
        """What the collectors share in one :func:`collect` run."""

        run: Runner
        state: dict[str, Any]
        read: Callable[[str], str]
        started: float

    Collector = Callable[["Metrics", Mapping[str, Any], Context], None]

CHECKS = ("disk_usage", "failed_units", "backup_age", "pending_updates", "reboot_required", "smart")

# File systems that hold data. Everything else (tmpfs, proc, cgroup, overlay of an apt cache...)
# is ignored, except the root file system whatever its type (a container's root is an overlay).
DISK_FSTYPES = frozenset(
    (
        "ext2",
        "ext3",
        "ext4",
        "xfs",
        "btrfs",
        "zfs",
        "f2fs",
        "jfs",
        "reiserfs",
        "nilfs2",
        "vfat",
        "exfat",
        "ntfs",
        "ntfs3",
        "fuseblk",
        "bcachefs",
    )
)
# Mount trees of the OS itself (and of a container's host, /run/host): never data disks.
PSEUDO_TREES = ("/proc", "/sys", "/dev", "/run")
# Block devices that never carry SMART data.
NON_SMART_PREFIXES = ("loop", "ram", "zram", "dm-", "sr", "md", "nbd", "fd", "rbd", "drbd")


def command_runner() -> Runner:
    """A ``run`` callable built on subprocess, for the collector (modules use run_command)."""
    return process_runner({"LC_ALL": "C", "LANG": "C"}, timeout=120)


# --------------------------------------------------------------------------- checks


def failed_units(run: Runner) -> list[str]:
    """Names of the systemd units in the ``failed`` state (raises OSError if systemctl fails)."""
    rc, out, err = run(
        [
            "systemctl",
            "list-units",
            "--state=failed",
            "--all",
            "--plain",
            "--no-legend",
            "--no-pager",
        ]
    )
    if rc != 0:
        raise OSError("systemctl list-units failed: %s" % (err.strip() or rc))
    units: list[str] = []
    for line in out.splitlines():
        fields = line.split()
        if fields:
            units.append(fields[0].lstrip("\u25cf*").strip() or fields[1])
    return sorted(set(units))


def _unescape_mount(path: str) -> str:
    # /proc/self/mounts escapes space, tab, newline and backslash as octal
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def mounts(text: str) -> list[tuple[str, str, str]]:
    """``(device, mountpoint, fstype)`` of each line of a ``/proc/self/mounts`` text."""
    result: list[tuple[str, str, str]] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            result.append((_unescape_mount(fields[0]), _unescape_mount(fields[1]), fields[2]))
    return result


def _under(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree.rstrip("/") + "/")


def disk_usage(
    mounts_text: str,
    statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
    stat: Callable[[str], os.stat_result] = os.stat,
    exclude: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Usage of each data file system, one entry per device (its shortest mount point).

    ``used_ratio`` is computed as ``df`` does: used / (used + available to unprivileged users),
    so a file system is "full" when ordinary processes can no longer write.
    """
    seen: dict[int, dict[str, Any]] = {}
    for device, mountpoint, fstype in mounts(mounts_text):
        if mountpoint != "/" and (
            fstype not in DISK_FSTYPES or any(_under(mountpoint, t) for t in PSEUDO_TREES)
        ):
            continue
        if any(_under(mountpoint, t) for t in exclude):
            continue
        try:
            key = stat(mountpoint).st_dev
            vfs = statvfs(mountpoint)
        except OSError:
            continue
        if vfs.f_blocks == 0:
            continue
        used = (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize
        available = vfs.f_bavail * vfs.f_frsize
        total = used + available
        entry: dict[str, Any] = {
            "mountpoint": mountpoint,
            "device": device,
            "fstype": fstype,
            "size_bytes": vfs.f_blocks * vfs.f_frsize,
            "used_ratio": round(float(used) / total, 4) if total else 0.0,
        }
        kept = seen.get(key)
        if kept is None or len(mountpoint) < len(kept["mountpoint"]):
            seen[key] = entry
    return sorted(seen.values(), key=lambda e: e["mountpoint"])


def _version_key(name: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def reboot_required(
    flag_files: Iterable[str] = ("/run/reboot-required", "/var/run/reboot-required"),
    boot_dir: str = "/boot",
    running_kernel: str | None = None,
) -> tuple[bool, str | None]:
    """``(required, reason)``: a flag file says so, or a newer kernel is installed than running.

    A container boots no kernel of its own (nothing in /boot): only the flag file counts there.
    """
    for path in flag_files:
        if os.path.exists(path):
            return True, f"flag file {path}"
    if running_kernel is None:
        running_kernel = os.uname()[2]
    try:
        kernels = [n[len("vmlinuz-") :] for n in os.listdir(boot_dir) if n.startswith("vmlinuz-")]
    except OSError:
        kernels = []
    if kernels:
        newest = max(kernels, key=_version_key)
        if newest != running_kernel and _version_key(newest) > _version_key(running_kernel):
            return True, f"kernel {newest} installed, {running_kernel} running"
    return False, None


_INST_RE = re.compile(r"^Inst (\S+)(?: \[[^\]]*\])? \((.*)\)")


def parse_simulated_upgrade(text: str) -> dict[str, int]:
    """``{"security": n, "other": m}`` from the output of ``apt-get -s dist-upgrade``."""
    security: set[str] = set()
    other: set[str] = set()
    for line in text.splitlines():
        match = _INST_RE.match(line)
        if not match:
            continue
        name, origin = match.groups()
        if "-security" in origin or "Debian-Security" in origin:
            security.add(name)
        else:
            other.add(name)
    return {"security": len(security), "other": len(other - security)}


def pending_updates(run: Runner) -> dict[str, int]:
    """Upgradable packages by kind, from apt's own resolver (no download, lock or cache file)."""
    rc, out, err = run(
        [
            "apt-get",
            "-s",
            "-q",
            "-o",
            "Debug::NoLocking=true",
            "-o",
            "Dir::Cache::pkgcache=",
            "-o",
            "Dir::Cache::srcpkgcache=",
            "dist-upgrade",
        ]
    )
    if rc != 0:
        raise OSError("apt-get -s dist-upgrade failed: %s" % (err.strip() or rc))
    return parse_simulated_upgrade(out)


def smart_devices(block_dir: str = "/sys/block") -> list[str]:
    """Whole disks that may support SMART: physical (a ``device`` link), not loop/dm/md..."""
    try:
        names = sorted(os.listdir(block_dir))
    except OSError:
        return []
    return [
        n
        for n in names
        if not n.startswith(NON_SMART_PREFIXES)
        and os.path.exists(os.path.join(block_dir, n, "device"))
    ]


def smart_health(
    run: Runner, devices: Iterable[str], smartctl: str = "smartctl"
) -> dict[str, bool]:
    """``{device: healthy}`` for the devices whose SMART status smartctl can read.

    A device without SMART (virtual disks, USB bridges without pass-through) is left out. Disks
    in standby are not spun up (``-n standby``) and are left out of this pass.
    """
    result: dict[str, bool] = {}
    for name in devices:
        rc, out, _err = run([smartctl, "-H", "-j", "-n", "standby", f"/dev/{name}"])
        try:
            data = json.loads(out or "{}")
        except ValueError:
            continue
        status = data.get("smart_status") if isinstance(data, dict) else None
        if rc & 0x03 or not isinstance(status, dict) or "passed" not in status:
            continue
        result[name] = bool(status["passed"])
    return result


def _timestamp(value: Any) -> float | None:
    """Epoch seconds from a number or an ISO 8601 string with an offset; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        import datetime

        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            instant = datetime.datetime.fromisoformat(text)
        except ValueError:
            return None
        if instant.tzinfo is None:
            return None
        return instant.timestamp()
    return None


BACKUP_SUCCESS_KEYS = ("last_success", "last_success_at")


def backup_status(path: str) -> dict[str, Any] | None:
    """What the backup role reports in ``status.json``: None when there is no backup here.

    The monitoring role never reads the backup role's variables; this file is the interface
    (written by mspctl_restic.update_status, world-readable, no secret): ``last_success`` (epoch
    seconds, or ISO 8601 with an offset) of the latest snapshot, ``max_age_hours`` the age the
    backup policy tolerates, ``restore_test.result`` (``pass``...) and ``restore_test.at``.
    """
    empty: dict[str, Any] = {
        "valid": False,
        "last_success": None,
        "max_age_hours": None,
        "restore_test": None,
    }
    try:
        data = load_json(path)
    except OSError:
        return None
    except ValueError:
        return empty
    if not isinstance(data, dict):
        return empty
    last: float | None = None
    for key in BACKUP_SUCCESS_KEYS:
        if data.get(key) is not None:
            last = _timestamp(data[key])
            break
    max_age = data.get("max_age_hours")
    if isinstance(max_age, bool) or not isinstance(max_age, (int, float)) or max_age <= 0:
        max_age = None
    restore = data.get("restore_test")
    restore_test: dict[str, Any] | None = None
    if isinstance(restore, dict) and restore.get("result"):
        restore_test = {
            "passed": restore.get("result") == "pass",
            "at": _timestamp(restore.get("at")),
        }
    return {
        "valid": True,
        "last_success": last,
        "max_age_hours": max_age,
        "restore_test": restore_test,
    }


def maintenance(
    windows: Iterable[Mapping[str, Any]], now_utc: datetime.datetime, engine: WindowEngine
) -> dict[str, Any]:
    """Whether a maintenance (patch) window is open now, using the shared window engine.

    Returns ``{"active", "end", "next_start"}`` with epoch seconds (``end`` of the open occurrence
    that closes last, ``next_start`` of the next occurrence of any window), or Nones.
    """
    active = False
    end: float | None = None
    next_start: float | None = None
    for spec in windows:
        window = engine.parse_window(spec)
        occurrence = engine.current_or_next_occurrence(window, now_utc)
        if occurrence is None:
            continue
        if occurrence.contains(now_utc):
            active = True
            stop = occurrence.end_utc.timestamp()
            end = stop if end is None else max(end, stop)
            following = engine.current_or_next_occurrence(window, occurrence.end_utc)
            if following is not None and following.start_utc > now_utc:
                start = following.start_utc.timestamp()
                next_start = start if next_start is None else min(next_start, start)
        else:
            start = occurrence.start_utc.timestamp()
            next_start = start if next_start is None else min(next_start, start)
    return {"active": active, "end": end, "next_start": next_start}


# --------------------------------------------------------------------------- rendering


class Metrics:
    """Metric families in the Prometheus text exposition format, in insertion order."""

    def __init__(self) -> None:
        self._families: list[dict[str, Any]] = []
        self._index: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, str] = {}

    def add(
        self,
        name: str,
        value: float,
        labels: Mapping[str, Any] | None = None,
        help_text: str = "",
        kind: str = "gauge",
    ) -> None:
        family = self._index.get(name)
        if family is None:
            family = {"name": name, "help": help_text, "type": kind, "samples": []}
            self._index[name] = family
            self._families.append(family)
        family["samples"].append((dict(labels or {}), value))

    def names(self) -> list[str]:
        return [f["name"] for f in self._families]

    def render(self) -> str:
        lines: list[str] = []
        for family in self._families:
            lines.append("# HELP {} {}".format(family["name"], _escape_help(family["help"])))
            lines.append("# TYPE {} {}".format(family["name"], family["type"]))
            for labels, value in family["samples"]:
                lines.append("{}{} {}".format(family["name"], _labels(labels), _number(value)))
        return "\n".join(lines) + "\n"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, Any] | None) -> str:
    if not labels:
        return ""
    return "{{{}}}".format(",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(labels.items())))


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str, prefix: str = "") -> list[tuple[str, dict[str, str], float]]:
    """``[(name, labels, value)]`` of the samples in a text exposition whose name starts with
    ``prefix`` (enough of the format for node exporter output: no exemplars, no timestamps)."""
    samples: list[tuple[str, dict[str, str], float]] = []
    for line in text.split("\n"):  # the format's only line break (label values may hold others)
        if not line or line.startswith("#") or not line.startswith(prefix):
            continue
        match = _SAMPLE_RE.match(line.strip())
        if not match:
            continue
        name, raw_labels, raw_value = match.groups()
        labels: dict[str, str] = {}
        for key, value in _LABEL_RE.findall(raw_labels or ""):
            labels[key] = value.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        try:
            number = float(raw_value)
        except ValueError:
            continue
        samples.append((name, labels, number))
    return samples


# --------------------------------------------------------------------------- the collector


def _collect_disk(metrics: Metrics, config: Mapping[str, Any], ctx: Context) -> None:
    """Disk usage of the data file systems."""
    disk = config.get("disk", {})
    usage = disk_usage(
        ctx["read"]("/proc/self/mounts"), exclude=disk.get("exclude_mountpoints", ())
    )
    for entry in usage:
        labels = {
            "mountpoint": entry["mountpoint"],
            "device": entry["device"],
            "fstype": entry["fstype"],
        }
        metrics.add(
            "mspctl_disk_used_ratio",
            entry["used_ratio"],
            labels,
            "Used fraction of a data file system, as df computes it.",
        )
        metrics.add(
            "mspctl_disk_size_bytes", entry["size_bytes"], labels, "Size of a data file system."
        )
    metrics.add(
        "mspctl_disk_warn_ratio",
        disk.get("warn_percent", 85) / 100.0,
        None,
        "Disk usage above which the policy warns.",
    )
    metrics.add(
        "mspctl_disk_crit_ratio",
        disk.get("crit_percent", 95) / 100.0,
        None,
        "Disk usage above which the disk is considered full.",
    )


def _collect_units(metrics: Metrics, config: Mapping[str, Any], ctx: Context) -> None:
    """Failed systemd units."""
    units = failed_units(ctx["run"])
    metrics.add("mspctl_failed_units", len(units), None, "Number of failed systemd units.")
    for unit in units:
        metrics.add("mspctl_failed_unit", 1, {"unit": unit}, "A failed systemd unit.")


def _collect_backup(metrics: Metrics, config: Mapping[str, Any], ctx: Context) -> None:
    """What the backup policy reports on this host."""
    backup = config.get("backup", {})
    status = backup_status(backup.get("status_file", "/var/lib/mspctl/backup/status.json"))
    metrics.add(
        "mspctl_backup_status_present",
        0 if status is None else 1,
        None,
        "Whether the backup policy reports a status on this host.",
    )
    if status is None:
        return
    if not status["valid"]:
        raise ValueError("{} is not a JSON object".format(backup.get("status_file")))
    hours = status["max_age_hours"] or backup.get("max_age_hours", 36)
    metrics.add(
        "mspctl_backup_max_age_seconds",
        int(hours * 3600),
        None,
        "Backup age the backup policy tolerates.",
    )
    if status["last_success"] is not None:
        metrics.add(
            "mspctl_backup_last_success_timestamp_seconds",
            status["last_success"],
            None,
            "Time of the last successful backup.",
        )
    restore = status["restore_test"]
    if restore is not None:
        metrics.add(
            "mspctl_backup_restore_test_passed",
            1 if restore["passed"] else 0,
            None,
            "Whether the last restore test of the backups passed.",
        )
        if restore["at"] is not None:
            metrics.add(
                "mspctl_backup_restore_test_timestamp_seconds",
                restore["at"],
                None,
                "Time of the last restore test.",
            )


def _collect_updates(metrics: Metrics, config: Mapping[str, Any], ctx: Context) -> None:
    """Pending updates, cached until the apt lists or dpkg status change."""
    key = "{}:{}".format(_mtime("/var/lib/apt/lists"), _mtime("/var/lib/dpkg/status"))
    cached = ctx["state"].get("pending_updates")
    if not cached or cached.get("key") != key:
        cached = {"key": key, "counts": pending_updates(ctx["run"])}
        ctx["state"]["pending_updates"] = cached
    for kind in ("security", "other"):
        metrics.add(
            "mspctl_pending_updates",
            cached["counts"][kind],
            {"kind": kind},
            "Upgradable packages (apt), security or other.",
        )


def _collect_reboot(metrics: Metrics, config: Mapping[str, Any], ctx: Context) -> None:
    """Whether a reboot is required."""
    required, _reason = reboot_required()
    metrics.add(
        "mspctl_reboot_required",
        1 if required else 0,
        None,
        "Whether the host needs a reboot to finish its updates.",
    )


def _collect_smart(metrics: Metrics, config: Mapping[str, Any], ctx: Context) -> None:
    """SMART health, cached for ``smart.cache_seconds``."""
    smart = config.get("smart", {})
    cached = ctx["state"].get("smart")
    if not cached or ctx["started"] - cached.get("at", 0) >= smart.get("cache_seconds", 900):
        devices = smart_devices()
        health = smart_health(ctx["run"], devices) if devices and _which("smartctl") else {}
        cached = {"at": ctx["started"], "health": health}
        ctx["state"]["smart"] = cached
    health = cached["health"]
    metrics.add(
        "mspctl_smart_supported",
        1 if health else 0,
        None,
        "Whether at least one disk of the host reports SMART health.",
    )
    for device in sorted(health):
        metrics.add(
            "mspctl_smart_healthy",
            1 if health[device] else 0,
            {"device": device},
            "SMART overall health of a disk (1 passed, 0 failing).",
        )


# check name -> its collector, in the order they run
COLLECTORS: Sequence[tuple[str, Collector]] = (
    ("disk_usage", _collect_disk),
    ("failed_units", _collect_units),
    ("backup_age", _collect_backup),
    ("pending_updates", _collect_updates),
    ("reboot_required", _collect_reboot),
    ("smart", _collect_smart),
)


def _collect_maintenance(
    metrics: Metrics,
    config: Mapping[str, Any],
    now_utc: datetime.datetime,
    engine: WindowEngine | None,
    errors: dict[str, str],
) -> None:
    """Whether a maintenance window is open (alerts are silenced then)."""
    window_config = config.get("maintenance", {})
    enabled = bool(window_config.get("enabled")) and bool(window_config.get("windows"))
    status: dict[str, Any] = {"active": False, "end": None, "next_start": None}
    if enabled:
        try:
            if engine is None:
                raise ValueError("maintenance windows need the patch window engine")
            status = maintenance(window_config["windows"], now_utc, engine)
        except Exception as exc:  # reported as the maintenance error, not raised
            errors["maintenance"] = str(exc)
    metrics.add(
        "mspctl_maintenance_mode",
        1 if enabled else 0,
        None,
        "Whether alerts are silenced during the host's maintenance windows.",
    )
    metrics.add(
        "mspctl_maintenance",
        1 if status["active"] else 0,
        None,
        "Whether the host is inside a maintenance window now.",
    )
    metrics.add(
        "mspctl_maintenance_end_timestamp_seconds",
        status["end"] or 0,
        None,
        "End of the open maintenance window (0 when none is open).",
    )
    if status["next_start"] is not None:
        metrics.add(
            "mspctl_maintenance_next_start_timestamp_seconds",
            status["next_start"],
            None,
            "Start of the next maintenance window.",
        )


def collect(
    config: Mapping[str, Any],
    run: Runner,
    now_utc: datetime.datetime,
    engine: WindowEngine | None = None,
    state: dict[str, Any] | None = None,
    read: Callable[[str], str] | None = None,
) -> Metrics:
    """Evaluate the configured checks and return ``Metrics``.

    ``config`` is the role's ``monitoring.json``; ``state`` a dict the caller persists between
    runs (costly checks are cached in it); ``engine`` the patch window module (needed only when
    maintenance windows are configured); ``read(path)`` reads a text file.
    """
    import time

    started = time.time()
    ctx: Context = {
        "run": run,
        "state": {} if state is None else state,
        "read": read or _read_text,
        "started": started,
    }
    checks = [c for c in config.get("checks", []) if c in CHECKS]
    metrics = Metrics()
    errors: dict[str, str] = {}
    for check in CHECKS:
        metrics.add(
            "mspctl_check_enabled",
            1 if check in checks else 0,
            {"check": check},
            "Whether the monitoring policy enables this check on the host.",
        )
    for check, collector in COLLECTORS:
        if check not in checks:
            continue
        try:
            collector(metrics, config, ctx)
        except Exception as exc:  # a broken check must not hide the others
            errors[check] = str(exc)
    _collect_maintenance(metrics, config, now_utc, engine, errors)
    for check in sorted(errors):
        metrics.add(
            "mspctl_check_error",
            1,
            {"check": check},
            "A check that could not be evaluated on the last run.",
        )
    metrics.add(
        "mspctl_collector_duration_seconds",
        round(time.time() - started, 3),
        None,
        "Time the last collector run took.",
    )
    metrics.add(
        "mspctl_collector_last_run_timestamp_seconds",
        int(now_utc.timestamp()),
        None,
        "Time of the last collector run.",
    )
    metrics.errors = errors
    return metrics


def _read_text(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _mtime(path: str) -> int:
    try:
        return int(os.stat(path).st_mtime_ns)
    except OSError:
        return 0


def _which(name: str) -> str | None:

    for directory in os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(os.pathsep):
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    for directory in ("/usr/sbin", "/sbin"):
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None
