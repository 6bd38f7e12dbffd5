# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""restic for mspctl's backup_agent policy: one implementation for the modules and the service.

The ``mspctl.policy.restore_test`` and ``mspctl.policy.backup_status`` modules import this file as
module_utils; the ``backup_agent`` role also installs it on the host as
``/usr/local/lib/mspctl/mspctl_restic.py``, where ``mspctl-backup.service`` runs it as a program
(``python3 mspctl_restic.py run --config /etc/mspctl/backup/config.json``): backup, retention
(``forget --prune``) and, when due, a restore test. Standard library only: it runs on Debian's
python3 of the managed host.

Secrets: the repository password never appears on a command line. restic reads it from
``RESTIC_PASSWORD_FILE`` (the service: a root-only file) or ``RESTIC_PASSWORD`` (the modules: an
environment variable of the restic process only, readable by root alone).

The restore test (:func:`restore_test`) restores a random sample of files of the latest snapshot
into a fresh private scratch directory (``/var/tmp/mspctl-restore-*``, mode 0700) with
``restic restore --target <scratch> --include <file>... --verify``, then compares the SHA-256 of
each restored file with the file on disk. Only files unchanged since the snapshot (same size and
same mtime to the nanosecond as recorded in ``restic ls --json``) are sampled, so a file edited
after the backup is never reported as a mismatch. Two independent checks therefore back a
``pass``: restic authenticates every blob it reads (a tampered pack fails the restore) and
``--verify`` re-reads the restored files against the snapshot's recorded content hashes; our own
comparison then proves the snapshot holds what production holds. The scratch directory is always
removed; nothing is ever written outside it.
"""

from __future__ import annotations

import calendar
import datetime
import errno
import fcntl
import hashlib
import json
import os
import random
import re
import shutil
import stat
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any, TextIO

# Deployed on a host as a program, next to mspctl_common.py (the role installs both), it
# imports its sibling by plain name; as module_utils, by the collection's name.
try:
    from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_common import (
        module_runner,
        read_json,
        write_json,
    )
    from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_common import (
        run_process as process_runner,
    )
except ImportError:  # the program: even under python3 -I (no script directory on sys.path)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from mspctl_common import (  # type: ignore[import-not-found,no-redef]
        module_runner,
        read_json,
        write_json,
    )
    from mspctl_common import (  # type: ignore[no-redef]
        run_process as process_runner,
    )

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_common import Runner

    # restic's JSON: a snapshot of `restic snapshots --json`, a node of `restic ls --json`
    Snapshot = dict[str, Any]
    Node = dict[str, Any]
    Lstat = Callable[[str], os.stat_result]
    Log = Callable[[str], None]

STATE_DIR = "/var/lib/mspctl/backup"
RESULT_FILE = STATE_DIR + "/restore-test.json"
STATUS_FILE = STATE_DIR + "/status.json"
CONFIG_FILE = "/etc/mspctl/backup/config.json"
LOCK_FILE = "/run/lock/mspctl-backup.lock"
SCRATCH_PARENT = "/var/tmp"  # noqa: S108 - holds a private mkdtemp() directory (mode 0700)
SCRATCH_PREFIX = "mspctl-restore-"
DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_MISMATCHES = 20
MAX_ERROR_CHARS = 600
# characters restic's --include reads as a pattern: files whose path has one are never sampled
PATTERN_CHARS = frozenset("*?[]\\")

# restic backup exit code 3: "snapshot created, but some source files could not be read"
BACKUP_INCOMPLETE = 3


class ResticError(Exception):
    """A restic command failed; ``kind`` classifies why (see :func:`classify`)."""

    def __init__(self, message: str, rc: int | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.rc = rc
        self.stderr = stderr
        self.kind = classify(stderr, rc)

    def evidence(self) -> dict[str, Any]:
        return {
            "error": self.message,
            "kind": self.kind,
            "rc": self.rc,
            "stderr": tail(self.stderr),
        }


# What a restic failure means, first match wins: (kind, its exit code, phrases of its message).
FAILURE_KINDS = (
    (
        "no_repository",
        10,
        (
            "is there a repository at the following location",
            "repository does not exist",
            "unable to open config file",
        ),
    ),
    ("wrong_password", 12, ("wrong password", "no key found")),
    ("locked", 11, ("repository is already locked",)),
    (
        "corrupt",
        None,
        ("ciphertext verification failed", "hash mismatch", "invalid data returned", "checksum"),
    ),
    ("unreachable", None, ("ssh command exited", "unable to start the sftp session")),
    ("no_restic", 127, ("no such file or directory: 'restic'",)),
)


def classify(stderr: str | None, rc: int | None = None) -> str:
    """What a restic failure means, from its exit code and message (restic 0.14 to 0.18)."""
    text = (stderr or "").lower()
    for kind, code, phrases in FAILURE_KINDS:
        if (code is not None and rc == code) or any(phrase in text for phrase in phrases):
            return kind
        if kind == "unreachable" and "connection" in text and "ssh" in text:
            return kind
    return "error"


def tail(text: str | None, limit: int = MAX_ERROR_CHARS) -> str:
    """restic's message without Go stack traces, cut to ``limit`` characters."""
    lines = [
        line.rstrip()
        for line in (text or "").splitlines()
        if line.strip()
        and not line.startswith(("\t", " ", "github.com/", "main.", "runtime.", "golang.org/"))
    ]
    joined = "\n".join(lines)
    return joined if len(joined) <= limit else joined[:limit] + "..."


# ---------------------------------------------------------------------------------------------
# time


def parse_time(value: str | None) -> tuple[int, int]:
    """restic's RFC 3339 time (nanoseconds, any offset) as (epoch seconds, nanoseconds).

    Python's datetime stops at microseconds, so the fraction is kept apart, exact.
    """
    match = re.match(
        r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$", value or ""
    )
    if not match:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7) or "", match.group(8)
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    nanos = int((fraction + "000000000")[:9]) if fraction else 0
    return seconds, nanos


def epoch(value: str | None) -> float:
    seconds, nanos = parse_time(value)
    return seconds + nanos / 1e9


def mtime_ns(value: str | None) -> int:
    seconds, nanos = parse_time(value)
    return seconds * 1000000000 + nanos


def iso(timestamp: float) -> str:
    """Epoch seconds as an RFC 3339 UTC string (seconds precision)."""
    moment = datetime.datetime.fromtimestamp(int(timestamp), tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def hours_between(earlier: float, later: float) -> float:
    return round((later - earlier) / 3600.0, 2)


# ---------------------------------------------------------------------------------------------
# repository location


def parse_sftp(repository: str | None) -> dict[str, Any] | None:
    """``sftp:[user@]host:/path`` or ``sftp://[user@]host[:port]//path`` as a dict, else None."""
    match = re.match(r"^sftp://(?:([^@/]+)@)?([^:/]+)(?::(\d+))?/(.*)$", repository or "")
    if match:
        user, host, port, path = match.groups()
        return {
            "user": user,
            "host": host,
            "port": int(port) if port else None,
            "path": path if path.startswith("/") else "~/" + path,
        }
    match = re.match(r"^sftp:(?:([^@/:]+)@)?([^:/]+):(.*)$", repository or "")
    if match:
        user, host, path = match.groups()
        return {"user": user, "host": host, "port": None, "path": path}
    return None


def sftp_command(repository: str | None, ssh_config: str | None) -> str | None:
    """restic's ``sftp.command`` using our own ssh client configuration, or None.

    The configuration file (identity, known hosts, batch mode) is used by restic's connections
    only: the host's own ssh settings are left alone.
    """
    location = parse_sftp(repository)
    if location is None or not ssh_config:
        return None
    target = location["host"]
    if location["user"]:
        target = f"{location['user']}@{target}"
    words = ["ssh", "-F", ssh_config]
    if location["port"]:
        words += ["-p", str(location["port"])]
    return " ".join([*words, target, "-s", "sftp"])


# ---------------------------------------------------------------------------------------------
# restic


class Restic:
    """restic commands through ``run(argv, env) -> (rc, stdout, stderr)``.

    ``run`` is ``module.run_command`` in the modules (via ``mspctl_common.module_runner``) and
    ``subprocess`` in the service (``mspctl_common.run_process``), so tests can give a fake.
    """

    def __init__(
        self,
        run: Runner,
        repository: str,
        password: str | None = None,
        password_file: str | None = None,
        ssh_config: str | None = None,
        cache_dir: str | None = None,
        binary: str = "restic",
    ) -> None:
        self._run = run
        self.repository = repository
        self.binary = binary
        self.env = {"RESTIC_REPOSITORY": repository, "RESTIC_PROGRESS_FPS": "0.016"}
        if password is not None:
            self.env["RESTIC_PASSWORD"] = password
        elif password_file:
            self.env["RESTIC_PASSWORD_FILE"] = password_file
        if cache_dir:
            self.env["RESTIC_CACHE_DIR"] = cache_dir
        self.options: list[str] = []
        command = sftp_command(repository, ssh_config)
        if command:
            self.options += ["-o", f"sftp.command={command}"]

    def call(self, *args: str, ok: Collection[int] = (0,)) -> tuple[int, str, str]:
        # the command, then global options, then its own (a backup's paths follow "--")
        argv = [self.binary, args[0], *self.options, *list(args[1:])]
        rc, out, err = self._run(argv, self.env)
        if rc not in ok:
            raise ResticError(f"restic {args[0]} failed (rc {rc})", rc, err)
        return rc, out, err

    def version(self) -> str | None:
        _rc, out, _err = self.call("version")
        match = re.search(r"restic (\d+(?:\.\d+)+)", out)
        return match.group(1) if match else None

    def initialised(self) -> bool:
        """True when the repository exists and opens; False when there is none yet."""
        try:
            self.call("cat", "config", "--no-lock")
        except ResticError as exc:
            if exc.kind == "no_repository":
                return False
            raise
        return True

    def init(self) -> None:
        self.call("init")

    def snapshots(self, host: str | None = None) -> list[Snapshot]:
        args = ["snapshots", "--json", "--no-lock"]
        if host:
            args += ["--host", host]
        _rc, out, _err = self.call(*args)
        data: list[Snapshot] = json.loads(out or "[]") or []
        return sorted(data, key=lambda snap: epoch(snap["time"]))

    def latest(self, host: str | None = None) -> Snapshot | None:
        snaps = self.snapshots(host)
        return snaps[-1] if snaps else None

    def ls(self, snapshot_id: str) -> list[Node]:
        """Nodes of a snapshot (``restic ls --json``): dicts with path, type, size, mtime."""
        _rc, out, _err = self.call("ls", "--json", "--no-lock", snapshot_id)
        nodes: list[Node] = []
        for raw in out.splitlines():
            line = raw.strip()
            if not line:
                continue
            item = json.loads(line)
            if item.get("struct_type", "node") == "node" and "path" in item:
                nodes.append(item)
        return nodes

    def restore(
        self, snapshot_id: str, target: str, includes: Iterable[str]
    ) -> tuple[int, str, str]:
        args = ["restore", snapshot_id, "--target", target, "--verify"]
        for path in includes:
            args += ["--include", path]
        return self.call(*args)

    def backup(
        self,
        paths: Iterable[str],
        host: str,
        excludes: Iterable[str] = (),
        tags: Iterable[str] = ("mspctl",),
    ) -> tuple[str | None, bool]:
        """A backup; returns (snapshot id or None, complete?) — rc 3 still made a snapshot."""
        args = ["backup", "--json", "--host", host, "--exclude-caches"]
        for tag in tags:
            args += ["--tag", tag]
        for pattern in excludes:
            args += ["--exclude", pattern]
        rc, out, _err = self.call(*([*args, "--", *list(paths)]), ok=(0, BACKUP_INCOMPLETE))
        snapshot: str | None = None
        for line in out.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and item.get("message_type") == "summary":
                snapshot = item.get("snapshot_id")
        return snapshot, rc == 0

    def forget(self, host: str, retention: Mapping[str, Any]) -> tuple[int, str, str] | None:
        args = ["forget", "--prune", "--host", host, "--group-by", "host"]
        for period in ("daily", "weekly", "monthly"):
            if retention.get(period):
                args += [f"--keep-{period}", str(int(retention[period]))]
        if len(args) == 7:  # no retention: keep everything rather than forget everything
            return None
        return self.call(*args)


def restic_argument_spec() -> dict[str, dict[str, Any]]:
    """The repository connection options of the modules (doc fragment ``mspctl.policy.restic``)."""
    return dict(
        repository=dict(type="str", required=True),
        password=dict(type="str", required=True, no_log=True),
        host=dict(type="str", required=True),
        ssh_config=dict(type="path"),
        cache_dir=dict(type="path"),
    )


def module_restic(module: AnsibleModule, binary: str) -> Restic:
    """:class:`Restic` for a module whose parameters include :func:`restic_argument_spec`."""
    params = module.params
    return Restic(
        module_runner(module),
        params["repository"],
        password=params["password"],
        ssh_config=params["ssh_config"],
        cache_dir=params["cache_dir"],
        binary=binary,
    )


# ---------------------------------------------------------------------------------------------
# restore test


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unchanged_on_disk(node: Mapping[str, Any], lstat: Lstat = os.lstat) -> bool:
    """True when the file at the node's path is a regular file with the node's size and mtime."""
    try:
        info = lstat(node["path"])
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_size != node.get("size", 0):
        return False
    try:
        return info.st_mtime_ns == mtime_ns(node["mtime"])
    except (KeyError, ValueError):
        return False


def candidates(
    nodes: Iterable[Node], lstat: Lstat = os.lstat, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> tuple[list[Node], int]:
    """Files of a snapshot a restore test may compare; returns (eligible, changed_since)."""
    eligible: list[Node] = []
    changed = 0
    for node in nodes:
        if node.get("type") != "file":
            continue
        size = node.get("size", 0)
        if size <= 0 or size > max_file_bytes or PATTERN_CHARS & set(node["path"]):
            continue
        if unchanged_on_disk(node, lstat):
            eligible.append(node)
        else:
            changed += 1
    return eligible, changed


def due(last: Mapping[str, Any] | None, interval_days: float, now: float) -> bool:
    """A restore test is due when none is recorded, the last did not pass, or it is too old."""
    if not last or last.get("result") != "pass" or not last.get("at"):
        return True
    try:
        age = now - epoch(last["at"])
    except ValueError:
        return True
    return age >= interval_days * 86400


def restore_test(
    restic: Restic,
    host: str,
    sample_size: int,
    now: float | None = None,
    scratch_parent: str = SCRATCH_PARENT,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    rng: random.Random | None = None,
    lstat: Lstat = os.lstat,
) -> dict[str, Any]:
    """Restore a sample of the latest snapshot of ``host`` into scratch and compare checksums.

    Returns the result record: ``result`` is ``pass`` only when the restore succeeded and every
    sampled file matched. Never raises for a failing repository: the failure is the evidence.
    """
    started = time.time()
    now = started if now is None else now
    rng = rng or random.SystemRandom()
    result: dict[str, Any] = {
        "result": "fail",
        "at": iso(now),
        "host": host,
        "snapshot": None,
        "snapshot_time": None,
        "files": 0,
        "bytes": 0,
        "checksums_match": False,
        "mismatches": [],
        "sample": [],
        "changed_since_snapshot": 0,
        "error": None,
    }
    scratch: str | None = None
    try:
        snap = restic.latest(host)
        if snap is None:
            result["error"] = f"no snapshot of host {host} in the repository"
            return result
        result["snapshot"] = snap.get("short_id") or snap["id"][:8]
        result["snapshot_id"] = snap["id"]
        result["snapshot_time"] = snap["time"]
        nodes = restic.ls(snap["id"])
        eligible, result["changed_since_snapshot"] = candidates(nodes, lstat, max_file_bytes)
        if not eligible:
            result["error"] = (
                f"no file of snapshot {result['snapshot']} is unchanged on disk: nothing to compare"
            )
            return result
        sample = rng.sample(eligible, min(sample_size, len(eligible)))
        sample.sort(key=lambda node: node["path"])
        result["sample"] = [node["path"] for node in sample]
        scratch = make_scratch(scratch_parent)
        try:
            restic.restore(snap["id"], scratch, result["sample"])
        except ResticError as exc:  # what did get restored is compared all the same
            compare(sample, scratch, result)
            result.update(exc.evidence(), result="fail")
        else:
            compare(sample, scratch, result)
    except ResticError as exc:
        result.update(exc.evidence())
    except (OSError, ValueError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        result["scratch_removed"] = scratch is None or not os.path.exists(scratch)
        result["duration_seconds"] = round(time.time() - started, 2)
    return result


def make_scratch(parent: str) -> str:
    """A new private directory under ``parent``: the only place a restore test writes to."""
    scratch = tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=parent)
    os.chmod(scratch, 0o700)
    return scratch


def restored_path(scratch: str, path: str) -> str:
    """Where ``restic restore --target scratch`` puts ``path``; never outside ``scratch``."""
    candidate = os.path.normpath(os.path.join(scratch, path.lstrip("/")))
    if not candidate.startswith(os.path.normpath(scratch) + os.sep):
        raise ValueError(f"path escapes the scratch directory: {path!r}")
    return candidate


def compare(sample: Iterable[Node], scratch: str, result: dict[str, Any]) -> None:
    mismatches: list[dict[str, Any]] = []
    compared = total = 0
    for node in sample:
        path = node["path"]
        target = restored_path(scratch, path)
        try:
            expected = sha256_file(path)
        except OSError:  # removed since it was sampled (a temporary file, a rotated log)
            expected = None
        if expected is None or not unchanged_on_disk(node):
            # edited or removed while we read it: not evidence either way
            result["changed_since_snapshot"] += 1
            continue
        if not os.path.isfile(target):
            mismatches.append({"path": path, "reason": "not restored"})
            continue
        actual = sha256_file(target)
        compared += 1
        total += os.path.getsize(target)
        if actual != expected:
            mismatches.append(
                {
                    "path": path,
                    "reason": "content differs",
                    "expected_sha256": expected,
                    "actual_sha256": actual,
                }
            )
    result["files"] = compared
    result["bytes"] = total
    result["mismatches"] = mismatches[:MAX_MISMATCHES]
    result["checksums_match"] = compared > 0 and not mismatches
    if result["checksums_match"]:
        result["result"] = "pass"
    elif compared == 0 and not mismatches:
        result["error"] = "every sampled file changed during the test: nothing compared"


# ---------------------------------------------------------------------------------------------
# state files


def restore_summary(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not result:
        return None
    return {
        key: result.get(key)
        for key in ("result", "at", "snapshot", "files", "bytes", "checksums_match", "error")
    }


def record_restore_test(
    result: Mapping[str, Any], result_file: str = RESULT_FILE, status_file: str = STATUS_FILE
) -> None:
    """Keep a restore test's record (root only: it names files) and its summary in the status."""
    write_json(result_file, result, mode=0o600)
    update_status(status_file, restore_test=restore_summary(result))


def update_status(status_file: str, **parts: Any) -> dict[str, Any]:
    """Merge ``parts`` into the world-readable status file (no secret, no file name).

    Monitoring reads it without the repository password: ``last_success`` (epoch seconds of
    the latest snapshot) and ``max_age_hours`` give the backup age and its limit,
    ``restore_test.result`` and ``restore_test.at`` the last restore test.
    """
    status = read_json(status_file) or {}
    status.update(parts)
    status["version"] = 1
    status["written_at"] = iso(time.time())
    write_json(status_file, status, mode=0o644)
    return status


class Lock:
    """One restic job per host at a time (the timer's run and a converge's restore test)."""

    def __init__(self, path: str = LOCK_FILE, timeout: float = 1800) -> None:
        self.path = path
        self.timeout = timeout
        self.handle: TextIO | None = None

    def __enter__(self) -> Lock:
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        self.handle = open(self.path, "a")
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.time() > deadline:
                    self.handle.close()
                    raise
                time.sleep(1)

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()


# ---------------------------------------------------------------------------------------------
# the service: python3 mspctl_restic.py run --config /etc/mspctl/backup/config.json


def snapshot_record(snap: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not snap:
        return None
    return {"id": snap.get("short_id") or snap["id"][:8], "time": snap["time"]}


def backup_and_forget(
    config: Mapping[str, Any], restic: Restic, now: float, report: dict[str, Any], log: Log
) -> dict[str, Any]:
    """The backup and retention of a run; its record (``result`` is ``fail`` on an error)."""
    run: dict[str, Any] = {
        "at": iso(now),
        "result": "fail",
        "snapshot": None,
        "complete": None,
        "error": None,
    }
    try:
        if not restic.initialised():
            log(f"initialising repository {restic.repository}")
            restic.init()
            report["initialised"] = True
        paths = [p for p in config.get("paths", []) if os.path.lexists(p)]
        missing = sorted(set(config.get("paths", [])) - set(paths))
        if missing:
            log(f"not on this host, skipped: {', '.join(missing)}")
        if not paths:
            raise ResticError("none of the backup paths exists on this host", 1, "")
        run["snapshot"], run["complete"] = restic.backup(
            paths, config["host"], config.get("excludes", [])
        )
        completeness = "complete" if run["complete"] else "some files could not be read"
        log(f"snapshot {run['snapshot']} ({completeness})")
        restic.forget(config["host"], config.get("retention", {}))
        run["result"] = "ok" if run["complete"] else "incomplete"
    except ResticError as exc:
        run.update(error=exc.message, kind=exc.kind, stderr=tail(exc.stderr))
        log(f"backup failed: {exc.message}: {tail(exc.stderr)}")
    return run


def restore_test_if_due(
    config: Mapping[str, Any],
    restic: Restic,
    now: float,
    force: bool,
    report: dict[str, Any],
    log: Log,
) -> dict[str, Any] | None:
    """Run the restore test when due (or forced) and keep its record; the last record."""
    restore = config.get("restore_test", {})
    result_file = config.get("result_file", RESULT_FILE)
    last = read_json(result_file)
    if not (force or due(last, restore.get("interval_days", 7), now)):
        return last
    result = restore_test(
        restic,
        config["host"],
        int(restore.get("sample_size", 10)),
        scratch_parent=restore.get("scratch_parent", SCRATCH_PARENT),
    )
    write_json(result_file, result, mode=0o600)
    report["restore_test"] = restore_summary(result)
    why = (
        ""
        if result["result"] == "pass"
        else (f": {result.get('error') or result.get('mismatches')}")
    )
    log(f"restore test: {result['result']} ({result['files']} files, {result['bytes']} bytes){why}")
    return result


def backup_run(
    config: Mapping[str, Any],
    restic: Restic,
    now: float | None = None,
    force_restore_test: bool = False,
    only_if_older_hours: float | None = None,
    dry_run: bool = False,
    log: Log | None = None,
) -> tuple[int, dict[str, Any]]:
    """The service's job. Returns (exit code, report); the exit code is 0 when all is well,
    1 when the backup or retention failed, 2 when the restore test failed."""
    log = log or (lambda message: None)
    now = time.time() if now is None else now
    host = config["host"]
    report: dict[str, Any] = {"ran": False, "at": iso(now), "host": host}
    if only_if_older_hours is not None:
        try:
            latest = restic.latest(host) if restic.initialised() else None
        except ResticError as exc:
            latest = None
            log(f"cannot read the repository ({exc.kind}): running the backup")
        if latest and now - epoch(latest["time"]) < only_if_older_hours * 3600:
            report["latest"] = snapshot_record(latest)
            return 0, report
    report["ran"] = True
    if dry_run:
        return 0, report
    status_file = config.get("status_file", STATUS_FILE)
    run = backup_and_forget(config, restic, now, report, log)
    code = 0 if run["result"] != "fail" else 1
    latest = None
    try:
        latest = restic.latest(host)
    except ResticError as exc:
        log(f"cannot list snapshots: {exc.message}")
    parts: dict[str, Any] = {
        "last_run": run,
        "repository": restic.repository,
        "host": host,
        "max_age_hours": config.get("max_age_hours"),
    }
    if latest is not None:  # an unreadable repository does not erase what was known
        parts.update(
            last_snapshot=snapshot_record(latest),
            last_success=round(epoch(latest["time"]), 3),
            last_success_at=iso(epoch(latest["time"])),
        )
    last = restore_test_if_due(config, restic, now, force_restore_test, report, log)
    parts["restore_test"] = restore_summary(last)
    report["status"] = update_status(status_file, **parts)
    if code == 0 and last and last.get("result") != "pass":
        code = 2
    return code, report


def cli(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="mspctl_restic.py",
        description="mspctl backup_agent: restic backup, retention and restore test.",
    )
    parser.add_argument("command", choices=("run", "restore-test", "status"))
    parser.add_argument("--config", default=CONFIG_FILE)
    parser.add_argument(
        "--if-older-than-hours",
        type=float,
        default=None,
        help="run: only when the latest snapshot is older (or missing)",
    )
    parser.add_argument("--dry-run", action="store_true", help="run: only say whether it would")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    with open(args.config) as handle:
        config = json.load(handle)
    if args.command == "status":
        _say(json.dumps(read_json(config.get("status_file", STATUS_FILE)) or {}, indent=2))
        return 0

    def log(message: str) -> None:
        if not args.json:
            _say(message)

    restic = Restic(
        process_runner,
        config["repository"],
        password_file=config["password_file"],
        ssh_config=config.get("ssh_config"),
        cache_dir=config.get("cache_dir"),
    )
    if args.dry_run:
        code, report = backup_run(
            config, restic, only_if_older_hours=args.if_older_than_hours, dry_run=True, log=log
        )
        _say(json.dumps(report, sort_keys=True))
        return code

    with Lock(config.get("lock_file", LOCK_FILE)):
        if args.command == "restore-test":
            restore = config.get("restore_test", {})
            result = restore_test(
                restic,
                config["host"],
                int(restore.get("sample_size", 10)),
                scratch_parent=restore.get("scratch_parent", SCRATCH_PARENT),
            )
            record_restore_test(
                result,
                config.get("result_file", RESULT_FILE),
                config.get("status_file", STATUS_FILE),
            )
            code, report = (0 if result["result"] == "pass" else 2), result
        else:
            code, report = backup_run(
                config,
                restic,
                only_if_older_hours=args.if_older_than_hours,
                dry_run=args.dry_run,
                log=log,
            )
    if args.json:
        _say(json.dumps(report, sort_keys=True))
    return code


def _say(text: str) -> None:
    """The program's output (stdout, the service's journal); modules never call it."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(cli())
