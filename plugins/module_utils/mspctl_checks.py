# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declarative compliance controls: validation and read-only evaluation.

A control is a mapping ``{id, title?, type, <type-specific expectations>}`` with ``type`` one of
``package``, ``service``, ``file``, ``sysctl``, ``command`` (the keys of each are in ``SPECS``
and documented in ``docs/controls.md``). ``normalize`` checks a list of controls and fills the
defaults, raising ``ControlError`` (naming the control and the key) on the first bad one;
``Checker`` evaluates normalized controls and returns one outcome per control
``{status, expected, actual, evidence}`` with status ``pass``, ``fail`` or ``error`` (``error``:
the control could not be evaluated, e.g. an unreadable file or a missing tool).

Nothing here changes the host: files are only stat'ed and read, packages and services are only
queried, and ``command`` controls run the commands they are given (which must be read-only).
Standard library only; it runs on the managed host's Python.

Usage in a module::

    from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_checks import (
        Checker, ControlError, normalize)

    controls = normalize(module.params["controls"])        # ControlError -> fail_json
    checker = Checker(ModuleRunner(module))
    for control, outcome in zip(controls, checker.evaluate_all(controls)):
        ...
"""

from __future__ import annotations

import contextlib
import errno
import grp
import json
import os
import pwd
import re
import stat
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Protocol, TypedDict

    from ansible.module_utils.basic import AnsibleModule

    # a control definition, normalized (normalize_one): {id, title, type, <its keys>}
    Control = dict[str, Any]
    # checks a key's value; returns it normalized, ValueError when it is invalid
    Validator = Callable[[Any], Any]
    # (key, expected, actual, ok) of one checked key of a control
    Check = tuple[str, Any, Any, bool]
    # {requested package name: [(architecture, status, version)]}
    PackageRows = dict[str, list[tuple[str, str, str]]]

    class Outcome(TypedDict):
        """What one control evaluated to."""

        status: str
        expected: dict[str, Any]
        actual: dict[str, Any]
        evidence: dict[str, Any]

    class CommandRunner(Protocol):
        """What :class:`Checker` runs commands with: a :class:`ModuleRunner` or a fake."""

        def which(self, program: str) -> str | None: ...

        def run(
            self, argv: Sequence[str], timeout: float | None = None
        ) -> tuple[int, str, str, bool]: ...


PASS = "pass"  # noqa: S105 - a finding's status, not a password
FAIL = "fail"
ERROR = "error"

TYPES = ("package", "service", "file", "sysctl", "command")
COMMON_KEYS = ("id", "title", "type")

EVIDENCE_LIMIT = 2048  # bytes of JSON per control, at most
LINE_LIMIT = 200  # characters of one quoted line (a matched line, a value)
STDOUT_HEAD = (10, 1024)  # first lines / characters of a command's stdout kept as evidence
STDERR_HEAD = (5, 512)
READ_LIMIT = 8 * 1024 * 1024  # a file content check reads at most this much (else: error)
KILL_AFTER = 5  # seconds between TERM and KILL when a command times out
LOCALE = {"LC_ALL": "C.UTF-8"}  # stable messages for regexes and parsing

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?$")
_UNIT = re.compile(r"^[A-Za-z0-9_.:@\\][A-Za-z0-9_.:@\\-]*$")
_MODE = re.compile(r"^0?[0-7]{3,4}$")
_SYSCTL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$")
_VERSION = re.compile(r"^\s*(<<|<=|=|>=|>>)?\s*(\S+)\s*$")
_VERSION_OPS: dict[str, Callable[[int], bool]] = {
    "<<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    "=": lambda c: c == 0,
    ">=": lambda c: c >= 0,
    ">>": lambda c: c > 0,
}
# `systemctl is-enabled` exits 0 for these unit file states: the unit starts when its target
# is reached (or cannot be disabled at all, for static units)
_ENABLED_STATES = (
    "enabled",
    "enabled-runtime",
    "static",
    "indirect",
    "generated",
    "alias",
    "transient",
)
_RUNNING_STATES = ("active", "reloading", "refreshing")


class ControlError(ValueError):
    """An invalid control definition: which control, which key, what is wrong."""

    def __init__(
        self,
        control_id: str | None,
        key: str | None,
        message: str,
        position: int | str | None = None,
    ) -> None:
        ValueError.__init__(self, message)
        self.control_id = control_id  # None when the control has no usable id
        self.position = position  # 1-based place in the list
        self.key = key
        self.message = message

    def __str__(self) -> str:
        if self.control_id is not None:
            where = f"control {self.control_id!r}"
        else:
            where = f"control #{self.position}"
        if self.key:
            where += f", key {self.key!r}"
        return f"{where}: {self.message}"


# ---------------------------------------------------------------------------------------------
# validation


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _v_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _v_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (
        "true",
        "yes",
        "on",
        "1",
        "false",
        "no",
        "off",
        "0",
    ):
        return value.lower() in ("true", "yes", "on", "1")
    raise ValueError(f"expected a boolean, got {value!r}")


def _v_int(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not _is_int(value) or not low <= value <= high:
            raise ValueError(f"expected an integer {low}..{high}, got {value!r}")
        number: int = value
        return number

    return check


def _v_choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError("expected one of {}, got {!r}".format(", ".join(choices), value))
        choice: str = value
        return choice

    return check


def _v_pattern(pattern: re.Pattern[str], what: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not pattern.match(value):
            raise ValueError(f"expected {what}, got {value!r}")
        return value

    return check


def _v_regex(value: Any) -> str:
    _v_str(value)
    try:
        re.compile(value, re.MULTILINE)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
    regex: str = value
    return regex


def _v_mode(value: Any) -> str:
    if _is_int(value):
        raise ValueError(
            f'quote the mode ("0640"): YAML reads an unquoted 0640 as the number {value}'
        )
    if not isinstance(value, str) or not _MODE.match(value):
        raise ValueError(f'expected an octal mode string like "0640", got {value!r}')
    return f"{int(value, 8):04o}"


def _v_owner(value: Any) -> str:
    if _is_int(value) and value >= 0:
        return str(value)
    return _v_pattern(re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$"), "a user/group name or id")(
        value
    )


def _v_path(value: Any) -> str:
    if not isinstance(value, str) or not os.path.isabs(value) or "\0" in value:
        raise ValueError(f"expected an absolute path, got {value!r}")
    return os.path.normpath(value)


def _v_scalar(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a string or a number, got {value!r}")
    return str(value)


def _v_argv(value: Any) -> list[str]:
    if isinstance(value, str):
        raise ValueError("expected a list of arguments (argv, never a shell line), got a string")
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list of arguments, got {value!r}")
    argv: list[str] = []
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise ValueError(f"argv[{index}]: expected a string, got {item!r}")
        argv.append(str(item))
    if not argv[0].strip():
        raise ValueError("argv[0]: the program is empty")
    return argv


def _v_rc(value: Any) -> int | list[int]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError("expected an exit code or a list of exit codes, got []")
    check = _v_int(0, 255)
    try:
        codes = [check(v) for v in values]
    except ValueError:
        raise ValueError(f"expected an exit code 0..255 or a list of them, got {value!r}") from None
    return codes if isinstance(value, list) else codes[0]


def _v_version(value: Any) -> str:
    version = _v_scalar(value)
    if not _VERSION.match(version):
        raise ValueError(
            f"expected a Debian version, optionally after <<, <=, =, >= or >>, got {version!r}"
        )
    return version


# type -> key -> (validator, default); a default of None means optional without default
SPECS: dict[str, dict[str, tuple[Validator, Any]]] = {
    "package": {
        "name": (_v_pattern(_PACKAGE, "a Debian package name (name or name:arch)"), "required"),
        "state": (_v_choice("present", "absent"), "present"),
        "version": (_v_version, None),
    },
    "service": {
        "name": (_v_pattern(_UNIT, "a systemd unit name"), "required"),
        "running": (_v_bool, None),
        "enabled": (_v_bool, None),
    },
    "file": {
        "path": (_v_path, "required"),
        "state": (_v_choice("file", "directory", "absent"), "file"),
        "mode": (_v_mode, None),
        "max_mode": (_v_mode, None),
        "owner": (_v_owner, None),
        "group": (_v_owner, None),
        "contains": (_v_regex, None),
        "not_contains": (_v_regex, None),
    },
    "sysctl": {
        "key": (_v_pattern(_SYSCTL, "a sysctl key like kernel.randomize_va_space"), "required"),
        "value": (_v_scalar, "required"),
    },
    "command": {
        "argv": (_v_argv, "required"),
        "rc": (_v_rc, 0),
        "stdout_regex": (_v_regex, None),
        "stdout_not_regex": (_v_regex, None),
        "timeout": (_v_int(1, 3600), 30),
    },
}


def _semantics(control: Control) -> tuple[str, str] | None:
    """Checks between keys, once each key is valid on its own. Returns (key, message) or None."""
    kind = control["type"]
    if kind == "package" and control["state"] == "absent" and control.get("version") is not None:
        return "version", "a version only applies to state: present"
    if kind == "service" and control.get("running") is None and control.get("enabled") is None:
        return "running", "give running, enabled or both"
    if kind == "file":
        if control["state"] == "absent":
            extra = [
                k
                for k in ("mode", "max_mode", "owner", "group", "contains", "not_contains")
                if control.get(k) is not None
            ]
            if extra:
                return extra[0], "does not apply to state: absent"
        if control["state"] == "directory":
            for key in ("contains", "not_contains"):
                if control.get(key) is not None:
                    return key, "content checks apply to state: file only"
    if kind == "sysctl":
        key = control["key"]
        parts = key.split("/") if "/" in key else key.split(".")
        if any(part in ("", ".", "..") for part in parts):
            return "key", "must not contain '..', '.' or empty components"
    return None


def normalize_one(raw: Any, position: int) -> Control:
    """One control definition, checked and with its defaults; ControlError if it is invalid."""

    def problem(key: str | None, message: str, control_id: str | None = None) -> ControlError:
        return ControlError(control_id, key, message, position)

    if not isinstance(raw, dict):
        raise problem(None, f"expected a mapping, got {raw!r}")
    if "id" not in raw:
        raise problem("id", "required key is missing")
    try:
        control_id = _v_pattern(_ID, "an id of letters, digits and _ . : / -")(raw["id"])
    except ValueError as exc:
        raise problem("id", str(exc)) from exc
    kind = raw.get("type")
    if kind is None:
        raise problem("type", "required key is missing", control_id)
    if kind not in SPECS:
        raise problem("type", f"expected one of {', '.join(TYPES)}, got {kind!r}", control_id)
    spec = SPECS[kind]
    unknown = sorted(str(k) for k in raw if k not in COMMON_KEYS and k not in spec)
    if unknown:
        known = ", ".join(sorted(spec))
        raise problem(unknown[0], f"unknown key for a {kind} control (known: {known})", control_id)
    control: Control = {"id": control_id, "type": kind}
    checks = {"title": (_v_str, None), **spec} if raw.get("title") is not None else spec
    for key, (check, default) in checks.items():
        try:
            control[key] = _checked_value(raw.get(key), check, default)
        except ValueError as exc:
            raise problem(key, str(exc), control_id) from exc
    semantic = _semantics(control)
    if semantic:
        raise problem(semantic[0], semantic[1], control_id)
    control.setdefault("title", default_title(control))
    return control


def _checked_value(value: Any, check: Validator, default: Any) -> Any:
    """``value`` checked, or the ``default`` when it is None (ValueError when required)."""
    if value is not None:
        return check(value)
    if default == "required":
        raise ValueError("required key is missing")
    return default


def normalize(controls: Any) -> list[Control]:
    """Check a list of control definitions; ids must be unique. Raises ControlError."""
    if controls is None:
        return []
    if not isinstance(controls, list):
        raise ControlError(None, None, f"controls must be a list, got {controls!r}", "-")
    result: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(controls, 1):
        control = normalize_one(raw, position)
        if control["id"] in seen:
            first = seen[control["id"]]
            raise ControlError(
                control["id"], "id", f"duplicate id (controls #{first} and #{position})", position
            )
        seen[control["id"]] = position
        result.append(control)
    return result


def expectations(control: Control) -> dict[str, Any]:
    """The checked keys of a normalized control and their expected values."""
    skipped = ("name", "path", "key", "argv", "timeout")
    keys = [k for k in SPECS[control["type"]] if k not in skipped]
    return {k: control[k] for k in keys if control.get(k) is not None}


def default_title(control: Control) -> str:
    kind = control["type"]
    if kind == "package":
        title = "Package {} is {}".format(control["name"], control["state"])
        if control.get("version"):
            title += " (version {})".format(control["version"])
        return title
    if kind == "service":
        parts: list[str] = []
        if control.get("running") is not None:
            parts.append("running" if control["running"] else "stopped")
        if control.get("enabled") is not None:
            parts.append("enabled" if control["enabled"] else "disabled")
        return "Service {} is {}".format(control["name"], " and ".join(parts))
    if kind == "file":
        if control["state"] == "absent":
            return "{} is absent".format(control["path"])
        parts = [k + " " + control[k] for k in ("mode", "owner", "group") if control.get(k)]
        if control.get("max_mode"):
            parts.append("mode at most " + control["max_mode"])
        if control.get("contains"):
            parts.append("a line matches /{}/".format(clip(control["contains"], 40)))
        if control.get("not_contains"):
            parts.append("no line matches /{}/".format(clip(control["not_contains"], 40)))
        file_title = "{} is a {}".format(control["path"], control["state"])
        return file_title + (" ({})".format(", ".join(parts)) if parts else "")
    if kind == "sysctl":
        return "Sysctl {} = {}".format(control["key"], control["value"])
    return "Command {} succeeds".format(" ".join(control["argv"])[:80])


# ---------------------------------------------------------------------------------------------
# evidence


def clip(text: Any, limit: int = LINE_LIMIT) -> str | None:
    """At most ``limit`` characters, saying how many were cut."""
    if text is None:
        return None
    value = text_of(text)
    if len(value) <= limit:
        return value
    return f"{value[:limit]}...[{len(value) - limit} more chars]"


def head(text: Any, lines_chars: tuple[int, int]) -> str | None:
    """The first lines of an output, bounded in lines and characters."""
    lines, chars = lines_chars
    text = text_of(text or "")
    split = text.splitlines()
    kept = "\n".join(split[:lines])
    if len(split) > lines:
        kept += f"\n...[{len(split) - lines} more lines]"
    return clip(kept, chars)


def text_of(value: Any) -> str:
    """Text that JSON can carry: undecodable bytes (surrogate escapes) become U+FFFD."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def bounded(evidence: dict[str, Any], limit: int = EVIDENCE_LIMIT) -> dict[str, Any]:
    """Shrink the longest strings of an evidence dict until its JSON fits in ``limit`` bytes."""

    def size() -> int:
        return len(json.dumps(evidence, sort_keys=True, default=str).encode("utf-8"))

    budget = 512
    while size() > limit and budget >= 16:
        for key, value in list(evidence.items()):
            if isinstance(value, str) and len(value) > budget:
                evidence[key] = clip(value, budget)
            elif isinstance(value, dict):
                evidence[key] = bounded(dict(value), limit // 2)
            elif isinstance(value, list) and len(json.dumps(value, default=str)) > budget:
                evidence[key] = clip(json.dumps(value, default=str), budget)
        budget //= 2
    if size() > limit:
        evidence = {"truncated": f"evidence exceeded {limit} bytes"}
    return evidence


def first_match(regex: str, text: str) -> dict[str, Any] | None:
    """(line number, the whole line) of the first match of a multi-line regex, or None."""
    match = re.compile(regex, re.MULTILINE).search(text)
    if match is None:
        return None
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", match.start())
    line = text[start:] if end < 0 else text[start:end]
    return {"line": text.count("\n", 0, match.start()) + 1, "text": clip(line)}


def outcome(checks: Sequence[Check], evidence: dict[str, Any], error: str | None = None) -> Outcome:
    """Status from (key, expected, actual, ok) checks: any failed check -> fail, else an
    evaluation error -> error, else pass. ``expected``/``actual`` hold the checked keys."""
    expected = dict((key, exp) for key, exp, _act, _ok in checks)
    actual = dict((key, act) for key, _exp, act, _ok in checks)
    failed = [key for key, _exp, _act, ok in checks if ok is False]
    if failed:
        status = FAIL
        evidence["failed"] = failed
    elif error is not None:
        status = ERROR
    else:
        status = PASS
    if error is not None:
        evidence["error"] = clip(error, 400)
    return {"status": status, "expected": expected, "actual": actual, "evidence": bounded(evidence)}


def error_outcome(message: str, evidence: dict[str, Any] | None = None) -> Outcome:
    return outcome([], dict(evidence or {}), error=message)


# ---------------------------------------------------------------------------------------------
# Debian versions (dpkg's algorithm, so no process per comparison)


_DIGITS = "0123456789"
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _order(char: str) -> int:
    if char == "" or char in _DIGITS:
        return 0
    if char in _LETTERS:
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and a[i] not in _DIGITS) or (j < len(b) and b[j] not in _DIGITS):
            ac = _order(a[i] if i < len(a) else "")
            bc = _order(b[j] if j < len(b) else "")
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i] in _DIGITS and j < len(b) and b[j] in _DIGITS:
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i] in _DIGITS:
            return 1
        if j < len(b) and b[j] in _DIGITS:
            return -1
        if first_diff:
            return first_diff
    return 0


def _split_version(version: str) -> tuple[int, str, str]:
    epoch, _colon, rest = version.partition(":") if ":" in version else ("0", "", version)
    upstream, _dash, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return int(epoch) if epoch.isdigit() else 0, upstream, revision


def compare_versions(a: str, b: str) -> int:
    """<0, 0 or >0 as dpkg --compare-versions orders two Debian versions."""
    ea, ua, ra = _split_version(a.strip())
    eb, ub, rb = _split_version(b.strip())
    if ea != eb:
        return ea - eb
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


def version_matches(installed: str, constraint: str) -> bool:
    """Does an installed version satisfy ``[op] version`` (op: << <= = >= >>, default =)?"""
    match = _VERSION.match(constraint)
    if match is None:
        raise ValueError(f"not a version constraint: {constraint!r}")
    op, wanted = match.groups()
    return _VERSION_OPS[op or "="](compare_versions(installed, wanted))


# ---------------------------------------------------------------------------------------------
# evaluation


class ModuleRunner:
    """Runs argv lists through ``AnsibleModule.run_command``: no shell, no ~/$VAR expansion,
    LC_ALL=C.UTF-8, and an optional timeout (coreutils ``timeout``)."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self._timeout_bin: str | None = None
        self._timeout_looked_up = False

    def which(self, program: str) -> str | None:
        if os.path.isabs(program):
            return program if os.access(program, os.X_OK) and os.path.isfile(program) else None
        found: str | None = self.module.get_bin_path(program)
        return found

    def run(self, argv: Sequence[str], timeout: float | None = None) -> tuple[int, str, str, bool]:
        """(rc, stdout, stderr, timed_out). OSError propagates (the caller makes it an error)."""
        command = list(argv)
        if timeout:
            if not self._timeout_looked_up:
                self._timeout_bin = self.module.get_bin_path("timeout")
                self._timeout_looked_up = True
            if self._timeout_bin:
                command = [self._timeout_bin, f"--kill-after={KILL_AFTER}", str(timeout)]
                command += argv
        started = time.monotonic()
        rc, out, err = self.module.run_command(
            command,
            check_rc=False,
            environ_update=dict(LOCALE),
            expand_user_and_vars=False,
            errors="surrogate_or_replace",
            handle_exceptions=False,
            cwd="/",
        )
        elapsed = time.monotonic() - started
        timed_out = bool(timeout and rc in (124, 137) and elapsed >= timeout)
        return rc, out, err, timed_out


class Checker:
    """Evaluates normalized controls; read-only. ``runner`` is a ``ModuleRunner`` (or a fake
    with the same ``run``/``which``); ``proc_sys`` is where sysctl keys are read."""

    def __init__(self, runner: CommandRunner, proc_sys: str = "/proc/sys") -> None:
        self.runner = runner
        self.proc_sys = proc_sys
        self._packages: PackageRows | str | None = None

    def evaluate_all(self, controls: Sequence[Control]) -> list[Outcome]:
        names = [c["name"] for c in controls if c["type"] == "package"]
        if names:
            self._packages = self._query_packages(names)
        return [self.evaluate(control) for control in controls]

    def evaluate(self, control: Control) -> Outcome:
        method: Callable[[Control], Outcome] = getattr(self, "check_" + control["type"])
        try:
            result = method(control)
        except Exception as exc:  # one broken evaluation is a finding, not a failed play
            result = error_outcome(f"{type(exc).__name__}: {exc}")
        if not result["expected"]:  # an error: still say what was expected
            result["expected"] = expectations(control)
        return result

    # package -------------------------------------------------------------------------------
    def _query_packages(self, names: Iterable[str]) -> PackageRows | str:
        """{requested name: [(arch, status, version)]} or an error message (str)."""
        dpkg = self.runner.which("dpkg-query")
        if not dpkg:
            return "dpkg-query not found: package controls need a Debian host"
        fmt = "${Package}\\t${Architecture}\\t${Status}\\t${Version}\\n"
        try:
            rc, out, err, _t = self.runner.run(
                [dpkg, "-W", "-f", fmt, "--", *sorted(set(names))], timeout=60
            )
        except OSError as exc:
            return f"dpkg-query: {exc}"
        if rc not in (0, 1):
            return "dpkg-query exited {}: {}".format(rc, clip((err or "").strip()))
        rows: list[list[str]] = []
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 4:
                rows.append(parts)
        found: PackageRows = {}
        for name in names:
            base, _colon, arch = name.partition(":")
            found[name] = [
                (a, s.split()[-1] if s.split() else "", v)
                for p, a, s, v in rows
                if p == base and (not arch or a == arch)
            ]
        return found

    def check_package(self, control: Control) -> Outcome:
        known = self._packages
        if not isinstance(known, dict) or control["name"] not in known:
            # not prefetched by evaluate_all (or the prefetch failed): ask for this one
            known = self._query_packages([control["name"]])
        if isinstance(known, str):
            return error_outcome(known)
        rows = known[control["name"]]
        installed = [(arch, version) for arch, status, version in rows if status == "installed"]
        other = sorted(
            set(status for _a, status, _v in rows)
            - set(("installed", "not-installed", "config-files"))
        )
        if installed:
            state = "present"
        elif other:
            state = other[0]  # half-installed, unpacked, half-configured...
        else:
            state = "absent"
        base = control["name"].split(":")[0]
        records = [
            " ".join(part for part in (base + (":" + a if a else ""), s, v) if part)
            for a, s, v in rows
        ]
        evidence: dict[str, Any] = {"dpkg": [clip(r) for r in records[:4]] or "no package record"}
        checks: list[Check] = [("state", control["state"], state, state == control["state"])]
        if control.get("version") is not None and control["state"] == "present":
            versions = sorted(set(v for _a, v in installed))
            ok = bool(versions) and all(version_matches(v, control["version"]) for v in versions)
            checks.append(
                (
                    "version",
                    control["version"],
                    versions[0] if len(versions) == 1 else (versions or None),
                    ok,
                )
            )
        return outcome(checks, evidence)

    # service -------------------------------------------------------------------------------
    def check_service(self, control: Control) -> Outcome:
        systemctl = self.runner.which("systemctl")
        if not systemctl:
            return error_outcome("systemctl not found: service controls need systemd")
        props = "Id,LoadState,ActiveState,SubState,UnitFileState"
        rc, out, err, timed_out = self.runner.run(
            [systemctl, "show", "--property=" + props, control["name"]], timeout=30
        )
        if rc != 0 or timed_out:
            return error_outcome(f"systemctl show exited {rc}: {clip((err or '').strip())}")
        state: dict[str, str] = {}
        for line in out.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                state[key] = value
        evidence: dict[str, Any] = {
            "unit": state.get("Id") or control["name"],
            "load_state": state.get("LoadState"),
            "active_state": "{} ({})".format(state.get("ActiveState"), state.get("SubState")),
            "unit_file_state": state.get("UnitFileState") or None,
        }
        running = state.get("ActiveState") in _RUNNING_STATES
        enabled = state.get("UnitFileState") in _ENABLED_STATES
        checks: list[Check] = []
        if control.get("running") is not None:
            checks.append(("running", control["running"], running, running == control["running"]))
        if control.get("enabled") is not None:
            checks.append(("enabled", control["enabled"], enabled, enabled == control["enabled"]))
        return outcome(checks, evidence)

    # file ----------------------------------------------------------------------------------
    def check_file(self, control: Control) -> Outcome:
        path = control["path"]
        evidence: dict[str, Any] = {"path": path}
        st: os.stat_result | None
        try:
            st = os.stat(path)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                return error_outcome(f"cannot stat {path}: {exc.strerror}", evidence)
            st = None
        if os.path.islink(path):
            with contextlib.suppress(OSError):
                evidence["link_to"] = clip(os.readlink(path))
        kind = _file_kind(st)
        checks: list[Check] = [("state", control["state"], kind, kind == control["state"])]
        if st is None or kind != control["state"]:
            return outcome(checks, evidence)
        checks += _file_metadata_checks(control, st, evidence)
        error = None
        if control.get("contains") or control.get("not_contains"):
            text, error = _read_text(path, st.st_size)
            if text is not None:
                checks += _content_checks(control, text, evidence)
        return outcome(checks, evidence, error=error)

    # sysctl --------------------------------------------------------------------------------
    def sysctl_path(self, key: str) -> str:
        # sysctl(8): with a '/' in the key, '/' separates and '.' is literal
        relative = key if "/" in key else key.replace(".", "/")
        return os.path.join(self.proc_sys, relative.strip("/"))

    def check_sysctl(self, control: Control) -> Outcome:
        path = self.sysctl_path(control["key"])
        evidence: dict[str, Any] = {"path": path}
        want = " ".join(control["value"].split())
        try:
            with open(path, "rb") as handle:
                raw = handle.read(4096)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                evidence["present"] = False
                return outcome([("value", want, None, False)], evidence)
            return error_outcome(f"cannot read {path}: {exc.strerror}", evidence)
        value = " ".join(text_of(raw).split())
        return outcome([("value", want, clip(value), value == want)], evidence)

    # command -------------------------------------------------------------------------------
    def check_command(self, control: Control) -> Outcome:
        argv = list(control["argv"])
        evidence: dict[str, Any] = {"argv": [clip(a, 100) for a in argv][:20]}
        program = self.runner.which(argv[0])
        if not program:
            return error_outcome(f"command not found: {argv[0]}", evidence)
        argv[0] = program
        try:
            rc, out, err, timed_out = self.runner.run(argv, timeout=control["timeout"])
        except OSError as exc:
            return error_outcome(f"cannot run {program}: {exc}", evidence)
        evidence.update(rc=rc, stdout=head(out, STDOUT_HEAD), stderr=head(err, STDERR_HEAD))
        if timed_out:
            return error_outcome("timed out after {} s".format(control["timeout"]), evidence)
        codes = control["rc"] if isinstance(control["rc"], list) else [control["rc"]]
        checks: list[Check] = [("rc", control["rc"], rc, rc in codes)]
        text = text_of(out or "")
        if control.get("stdout_regex"):
            match = first_match(control["stdout_regex"], text)
            evidence["stdout_match"] = match or "no line matches"
            checks.append(
                (
                    "stdout_regex",
                    control["stdout_regex"],
                    match["text"] if match else None,
                    match is not None,
                )
            )
        if control.get("stdout_not_regex"):
            match = first_match(control["stdout_not_regex"], text)
            evidence["stdout_not_match"] = match or "no line matches"
            checks.append(
                (
                    "stdout_not_regex",
                    control["stdout_not_regex"],
                    match["text"] if match else None,
                    match is None,
                )
            )
        return outcome(checks, evidence)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _read_text(path: str, size: int) -> tuple[str | None, str | None]:
    """(text, None) or (None, error message). Undecodable bytes become U+FFFD."""
    if size > READ_LIMIT:
        return None, f"{path} is {size} bytes: content checks read at most {READ_LIMIT}"
    try:
        with open(path, "rb") as handle:
            data = handle.read(READ_LIMIT + 1)
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror}"
    if len(data) > READ_LIMIT:
        return None, f"{path} is over {READ_LIMIT} bytes: content checks read at most that"
    return data.decode("utf-8", "replace"), None


def _file_kind(st: os.stat_result | None) -> str:
    """absent, file, directory or other, from an ``os.stat`` result (None: absent)."""
    if st is None:
        return "absent"
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    return "other"


def _file_metadata_checks(
    control: Control, st: os.stat_result, evidence: dict[str, Any]
) -> list[Check]:
    """The mode, max_mode, owner and group checks of a file control; fills ``evidence``."""
    mode = f"{stat.S_IMODE(st.st_mode):04o}"
    owner, group = _user_name(st.st_uid), _group_name(st.st_gid)
    evidence.update(mode=mode, owner=f"{owner} ({st.st_uid})", group=f"{group} ({st.st_gid})")
    checks: list[Check] = []
    if control.get("mode"):
        checks.append(("mode", control["mode"], mode, mode == control["mode"]))
    if control.get("max_mode"):
        extra = stat.S_IMODE(st.st_mode) & ~int(control["max_mode"], 8)
        checks.append(("max_mode", control["max_mode"], mode, extra == 0))
    for key, numeric, name in (("owner", st.st_uid, owner), ("group", st.st_gid, group)):
        want = control.get(key)
        if want:
            ok = str(numeric) == want if want.isdigit() else name == want
            checks.append((key, want, name, ok))
    return checks


def _content_checks(control: Control, text: str, evidence: dict[str, Any]) -> list[Check]:
    """The contains / not_contains checks of a file control; fills ``evidence``."""
    checks: list[Check] = []

    for key, want_match in (("contains", True), ("not_contains", False)):
        if control.get(key):
            match = first_match(control[key], text)
            evidence[f"{key}_match"] = match or "no line matches"
            checks.append(
                (
                    key,
                    control[key],
                    match["text"] if match else None,
                    (match is not None) == want_match,
                )
            )
    return checks
