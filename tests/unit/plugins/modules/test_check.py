"""mspctl_check and plugins/module_utils/mspctl_checks.py: the declarative compliance checker.

Data-driven cases per control type on temporary files and directories, a fake /proc/sys, real
commands and this Debian machine's dpkg database; the service type with a fake systemctl (the
test machine need not run systemd). The module itself is run through ``main()`` with its
arguments patched in: check mode with diff writes nothing, a repeated evaluation returns the same
findings, and an invalid definition fails naming the control and the key. The checker on real
lab hosts is exercised by molecule/baseline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_checks as checks
from ansible_collections.mspctl.policy.plugins.modules import check as mspctl_check
from ansible_collections.mspctl.policy.tests.unit.plugins.modules.helper import (
    FINDING_KEYS,
    run_module,
)
from hypothesis import given, settings
from hypothesis import strategies as st

HAVE_DPKG = shutil.which("dpkg-query") is not None and shutil.which("dpkg") is not None


class LocalRunner:
    """The ModuleRunner contract without Ansible: run argv lists with subprocess."""

    def which(self, program: str) -> str | None:
        return shutil.which(program, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")

    def run(self, argv: list[str], timeout: int | None = None) -> tuple[int, str, str, bool]:
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                errors="surrogateescape",
            )
        except subprocess.TimeoutExpired:
            return 124, "", "", True
        return done.returncode, done.stdout, done.stderr, False


class FakeSystemctl(LocalRunner):
    """`systemctl show` answers from a table of units."""

    def __init__(self, units: dict[str, dict[str, str]], rc: int = 0, err: str = "") -> None:
        self.units, self.rc, self.err = units, rc, err
        self.calls: list[list[str]] = []

    def which(self, program: str) -> str | None:
        return "/usr/bin/systemctl" if program == "systemctl" else super().which(program)

    def run(self, argv: list[str], timeout: int | None = None) -> tuple[int, str, str, bool]:
        self.calls.append(argv)
        name = argv[-1]
        unit = self.units.get(
            name,
            {
                "Id": name + ".service",
                "LoadState": "not-found",
                "ActiveState": "inactive",
                "SubState": "dead",
                "UnitFileState": "",
            },
        )
        return self.rc, "".join(f"{k}={v}\n" for k, v in unit.items()), self.err, False


def evaluate(
    control: dict[str, Any], runner: Any = None, proc_sys: str = "/proc/sys"
) -> dict[str, Any]:
    normalized = checks.normalize([control])
    result: dict[str, Any] = checks.Checker(runner or LocalRunner(), proc_sys).evaluate_all(
        normalized
    )[0]
    return result


# ---------------------------------------------------------------------------------------------
# file


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "conf").write_text("# sshd\nPort 22\nPermitRootLogin prohibit-password\n")
    (tmp_path / "conf").chmod(0o640)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir").chmod(0o750)
    (tmp_path / "link").symlink_to(tmp_path / "conf")
    return tmp_path


USER = __import__("pwd").getpwuid(os.getuid()).pw_name

FILE_CASES = [
    # (id, control keys, status, actual subset, failed keys)
    ("exists", {"path": "conf"}, "pass", {"state": "file"}, None),
    ("missing", {"path": "nope"}, "fail", {"state": "absent"}, ["state"]),
    ("absent-ok", {"path": "nope", "state": "absent"}, "pass", {"state": "absent"}, None),
    ("absent-but-there", {"path": "conf", "state": "absent"}, "fail", {"state": "file"}, ["state"]),
    (
        "dir",
        {"path": "dir", "state": "directory", "mode": "0750"},
        "pass",
        {"state": "directory", "mode": "0750"},
        None,
    ),
    ("dir-not-file", {"path": "dir"}, "fail", {"state": "directory"}, ["state"]),
    ("mode-exact", {"path": "conf", "mode": "0640"}, "pass", {"mode": "0640"}, None),
    ("mode-3-digits", {"path": "conf", "mode": "640"}, "pass", {"mode": "0640"}, None),
    ("mode-wrong", {"path": "conf", "mode": "0600"}, "fail", {"mode": "0640"}, ["mode"]),
    ("max-mode-looser", {"path": "conf", "max_mode": "0644"}, "pass", {"max_mode": "0640"}, None),
    ("max-mode-same", {"path": "conf", "max_mode": "0640"}, "pass", {"max_mode": "0640"}, None),
    (
        "max-mode-stricter",
        {"path": "conf", "max_mode": "0600"},
        "fail",
        {"max_mode": "0640"},
        ["max_mode"],
    ),
    ("owner-name", {"path": "conf", "owner": USER}, "pass", {"owner": USER}, None),
    ("owner-id", {"path": "conf", "owner": os.getuid()}, "pass", {"owner": USER}, None),
    ("owner-wrong", {"path": "conf", "owner": "nobody"}, "fail", {"owner": USER}, ["owner"]),
    (
        "contains",
        {"path": "conf", "contains": r"^PermitRootLogin\s+prohibit"},
        "pass",
        {"contains": "PermitRootLogin prohibit-password"},
        None,
    ),
    (
        "contains-missing",
        {"path": "conf", "contains": r"^PasswordAuthentication no"},
        "fail",
        {"contains": None},
        ["contains"],
    ),
    (
        "not-contains",
        {"path": "conf", "not_contains": r"^PermitRootLogin\s+yes"},
        "pass",
        {"not_contains": None},
        None,
    ),
    (
        "not-contains-found",
        {"path": "conf", "not_contains": r"(?i)^port\s"},
        "fail",
        {"not_contains": "Port 22"},
        ["not_contains"],
    ),
    (
        "symlink-followed",
        {"path": "link", "mode": "0640", "contains": "^Port"},
        "pass",
        {"state": "file", "mode": "0640"},
        None,
    ),
    (
        "two-failures",
        {"path": "conf", "mode": "0600", "contains": "^Nope"},
        "fail",
        {"mode": "0640", "contains": None},
        ["mode", "contains"],
    ),
]


@pytest.mark.parametrize(
    ("keys", "status", "actual", "failed"),
    [case[1:] for case in FILE_CASES],
    ids=[case[0] for case in FILE_CASES],
)
def test_file(
    tree: Path, keys: dict[str, Any], status: str, actual: dict[str, Any], failed: list[str] | None
) -> None:
    control = dict(keys, id="f", type="file", path=str(tree / keys["path"]))
    result = evaluate(control)
    assert result["status"] == status, result
    assert {k: result["actual"].get(k) for k in actual} == actual
    assert result["evidence"].get("failed") == failed
    assert result["expected"]["state"] == keys.get("state", "file")


def test_file_evidence_names_the_matched_line(tree: Path) -> None:
    result = evaluate(
        {
            "id": "f",
            "type": "file",
            "path": str(tree / "conf"),
            "contains": "PermitRootLogin",
            "owner": USER,
        }
    )
    assert result["evidence"]["contains_match"] == {
        "line": 3,
        "text": "PermitRootLogin prohibit-password",
    }
    assert result["evidence"]["mode"] == "0640"
    assert result["evidence"]["owner"] == f"{USER} ({os.getuid()})"


def test_unreadable_file_is_an_error_not_a_failure(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(*_args: Any, **_kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(checks, "open", denied, raising=False)
    result = evaluate({"id": "f", "type": "file", "path": str(tree / "conf"), "contains": "x"})
    assert result["status"] == "error"
    assert "Permission denied" in result["evidence"]["error"]
    # a definite failure still wins over what could not be evaluated
    result = evaluate(
        {"id": "f", "type": "file", "path": str(tree / "conf"), "contains": "x", "mode": "0600"}
    )
    assert result["status"] == "fail"
    assert result["evidence"]["failed"] == ["mode"]


def test_file_too_large_to_scan_is_an_error(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "READ_LIMIT", 10)
    result = evaluate({"id": "f", "type": "file", "path": str(tree / "conf"), "not_contains": "x"})
    assert result["status"] == "error"
    assert "at most 10" in result["evidence"]["error"]


# ---------------------------------------------------------------------------------------------
# sysctl


@pytest.fixture
def proc_sys(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    (root / "kernel").mkdir(parents=True)
    (root / "kernel" / "randomize_va_space").write_text("2\n")
    (root / "net" / "ipv4" / "conf" / "eth0.1").mkdir(parents=True)
    (root / "net" / "ipv4" / "conf" / "eth0.1" / "rp_filter").write_text("1\n")
    (root / "net" / "ipv4" / "ip_local_port_range").write_text("32768\t60999\n")
    return root


SYSCTL_CASES = [
    ("match-int", "kernel.randomize_va_space", 2, "pass", "2"),
    ("match-str", "kernel.randomize_va_space", "2", "pass", "2"),
    ("mismatch", "kernel.randomize_va_space", 1, "fail", "2"),
    ("whitespace", "net.ipv4.ip_local_port_range", "32768 60999", "pass", "32768 60999"),
    ("slash-form", "net/ipv4/conf/eth0.1/rp_filter", 1, "pass", "1"),
    ("missing-key", "kernel.no_such_key", 1, "fail", None),
]


@pytest.mark.parametrize(
    ("key", "value", "status", "actual"),
    [case[1:] for case in SYSCTL_CASES],
    ids=[c[0] for c in SYSCTL_CASES],
)
def test_sysctl(proc_sys: Path, key: str, value: Any, status: str, actual: str | None) -> None:
    result = evaluate(
        {"id": "s", "type": "sysctl", "key": key, "value": value}, proc_sys=str(proc_sys)
    )
    assert result["status"] == status, result
    assert result["actual"] == {"value": actual}
    assert result["expected"] == {"value": str(value)}
    if actual is None:
        assert result["evidence"]["present"] is False


def test_sysctl_unreadable_is_an_error(proc_sys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*_args: Any, **_kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(checks, "open", denied, raising=False)
    result = evaluate(
        {"id": "s", "type": "sysctl", "key": "kernel.randomize_va_space", "value": 2},
        proc_sys=str(proc_sys),
    )
    assert result["status"] == "error"
    assert result["expected"] == {"value": "2"}


def test_sysctl_reads_the_real_proc() -> None:
    result = evaluate({"id": "s", "type": "sysctl", "key": "kernel.ostype", "value": "Linux"})
    assert result["status"] == "pass", result


# ---------------------------------------------------------------------------------------------
# command

COMMAND_CASES = [
    ("rc-0", {"argv": ["true"]}, "pass", {"rc": 0}),
    ("rc-wrong", {"argv": ["false"]}, "fail", {"rc": 1}),
    ("rc-expected-1", {"argv": ["false"], "rc": 1}, "pass", {"rc": 1}),
    ("rc-list", {"argv": ["false"], "rc": [0, 1]}, "pass", {"rc": 1}),
    (
        "stdout-regex",
        {"argv": ["printf", "a=1\\nb=2\\n"], "stdout_regex": "^b=2$"},
        "pass",
        {"rc": 0, "stdout_regex": "b=2"},
    ),
    (
        "stdout-regex-missing",
        {"argv": ["printf", "a=1\\n"], "stdout_regex": "^b="},
        "fail",
        {"rc": 0, "stdout_regex": None},
    ),
    (
        "stdout-not-regex",
        {"argv": ["printf", "a=1\\n"], "stdout_not_regex": "^b="},
        "pass",
        {"rc": 0, "stdout_not_regex": None},
    ),
    (
        "stdout-not-regex-found",
        {"argv": ["printf", "a=1\\nb=2\\n"], "stdout_not_regex": "^b="},
        "fail",
        {"rc": 0, "stdout_not_regex": "b=2"},
    ),
    (
        "no-shell",
        {"argv": ["echo", "$HOME", "~", ";", "false"], "stdout_regex": r"^\$HOME ~ ; false$"},
        "pass",
        {"rc": 0, "stdout_regex": "$HOME ~ ; false"},
    ),
]


@pytest.mark.parametrize(
    ("keys", "status", "actual"), [c[1:] for c in COMMAND_CASES], ids=[c[0] for c in COMMAND_CASES]
)
def test_command(keys: dict[str, Any], status: str, actual: dict[str, Any]) -> None:
    result = evaluate(dict(keys, id="c", type="command"))
    assert result["status"] == status, result
    assert result["actual"] == actual
    assert result["evidence"]["rc"] == actual["rc"]


def test_command_not_found_is_an_error() -> None:
    result = evaluate({"id": "c", "type": "command", "argv": ["no-such-program-mspctl"]})
    assert result["status"] == "error"
    assert result["evidence"]["error"] == "command not found: no-such-program-mspctl"
    assert result["expected"] == {"rc": 0}


def test_command_evidence_is_bounded() -> None:
    script = "import sys; sys.stdout.write('x' * 50000 + '\\n' * 500); sys.stderr.write('e' * 9000)"
    result = evaluate(
        {
            "id": "c",
            "type": "command",
            "argv": [sys.executable, "-c", script, *[f"arg{i:03d}" for i in range(60)]],
            "stdout_regex": "x+",
        }
    )
    assert result["status"] == "pass"
    assert len(json.dumps(result["evidence"]).encode()) <= checks.EVIDENCE_LIMIT
    assert result["evidence"]["stdout"].startswith("xxxx")


def test_bounded_keeps_small_evidence_and_shrinks_large() -> None:
    small = {"rc": 0, "stdout": "ok"}
    assert checks.bounded(dict(small)) == small
    large = {"a": "y" * 5000, "b": ["z" * 300] * 30, "c": {"d": "w" * 4000}}
    assert len(json.dumps(checks.bounded(large)).encode()) <= checks.EVIDENCE_LIMIT


# ---------------------------------------------------------------------------------------------
# service (fake systemctl: the test machine need not run systemd)

UNITS = {
    "ssh": {
        "Id": "ssh.service",
        "LoadState": "loaded",
        "ActiveState": "active",
        "SubState": "running",
        "UnitFileState": "enabled",
    },
    "journald": {
        "Id": "systemd-journald.service",
        "LoadState": "loaded",
        "ActiveState": "active",
        "SubState": "running",
        "UnitFileState": "static",
    },
    "cups": {
        "Id": "cups.service",
        "LoadState": "loaded",
        "ActiveState": "inactive",
        "SubState": "dead",
        "UnitFileState": "disabled",
    },
    "masked": {
        "Id": "masked.service",
        "LoadState": "masked",
        "ActiveState": "inactive",
        "SubState": "dead",
        "UnitFileState": "masked",
    },
}

SERVICE_CASES = [
    (
        "running-enabled",
        {"name": "ssh", "running": True, "enabled": True},
        "pass",
        {"running": True, "enabled": True},
    ),
    ("static-counts-as-enabled", {"name": "journald", "enabled": True}, "pass", {"enabled": True}),
    (
        "stopped-expected",
        {"name": "cups", "running": False, "enabled": False},
        "pass",
        {"running": False, "enabled": False},
    ),
    ("not-running", {"name": "cups", "running": True}, "fail", {"running": False}),
    ("masked", {"name": "masked", "enabled": False}, "pass", {"enabled": False}),
    ("not-found-must-run", {"name": "nosuch", "running": True}, "fail", {"running": False}),
    ("not-found-must-not-run", {"name": "nosuch", "running": False}, "pass", {"running": False}),
]


@pytest.mark.parametrize(
    ("keys", "status", "actual"), [c[1:] for c in SERVICE_CASES], ids=[c[0] for c in SERVICE_CASES]
)
def test_service(keys: dict[str, Any], status: str, actual: dict[str, Any]) -> None:
    runner = FakeSystemctl(UNITS)
    result = evaluate(dict(keys, id="s", type="service"), runner)
    assert result["status"] == status, result
    assert result["actual"] == actual
    assert runner.calls[0][1:3] == [
        "show",
        "--property=Id,LoadState,ActiveState,SubState,UnitFileState",
    ]


def test_service_without_systemd_is_an_error() -> None:
    runner = FakeSystemctl({}, rc=1, err="System has not been booted with systemd as init system")
    result = evaluate({"id": "s", "type": "service", "name": "ssh", "running": True}, runner)
    assert result["status"] == "error"
    assert "not been booted with systemd" in result["evidence"]["error"]
    assert result["expected"] == {"running": True}


# ---------------------------------------------------------------------------------------------
# package (this machine's dpkg database)

needs_dpkg = pytest.mark.skipif(not HAVE_DPKG, reason="needs a Debian machine (dpkg)")


@needs_dpkg
@pytest.mark.parametrize(
    ("keys", "status", "state"),
    [
        ({"name": "dpkg"}, "pass", "present"),
        ({"name": "dpkg", "state": "absent"}, "fail", "present"),
        ({"name": "no-such-package-mspctl"}, "fail", "absent"),
        ({"name": "no-such-package-mspctl", "state": "absent"}, "pass", "absent"),
        ({"name": "dpkg", "version": ">= 1.0"}, "pass", "present"),
        ({"name": "dpkg", "version": "<< 1.0"}, "fail", "present"),
    ],
    ids=["present", "present-not-absent", "missing", "absent", "version-ok", "version-too-new"],
)
def test_package(keys: dict[str, Any], status: str, state: str) -> None:
    result = evaluate(dict(keys, id="p", type="package"))
    assert result["status"] == status, result
    assert result["actual"]["state"] == state


@needs_dpkg
def test_packages_are_queried_once() -> None:
    calls: list[list[str]] = []

    class Counting(LocalRunner):
        def run(self, argv: list[str], timeout: int | None = None) -> tuple[int, str, str, bool]:
            calls.append(argv)
            return super().run(argv, timeout)

    controls = checks.normalize(
        [
            {"id": "a", "type": "package", "name": "dpkg"},
            {"id": "b", "type": "package", "name": "no-such-package-mspctl", "state": "absent"},
            {"id": "c", "type": "package", "name": "coreutils", "version": ">= 8"},
        ]
    )
    results = checks.Checker(Counting()).evaluate_all(controls)
    assert [r["status"] for r in results] == ["pass", "pass", "pass"]
    assert len(calls) == 1


def test_package_without_dpkg_is_an_error() -> None:
    class NoDpkg(LocalRunner):
        def which(self, program: str) -> str | None:
            return None

    result = evaluate({"id": "p", "type": "package", "name": "dpkg"}, NoDpkg())
    assert result["status"] == "error"
    assert "dpkg-query not found" in result["evidence"]["error"]


@pytest.mark.parametrize(
    ("a", "b", "sign"),
    [
        ("1.0", "1.0", 0),
        ("1.0", "1.0-0", 0),
        ("1.0", "1.1", -1),
        ("1.10", "1.9", 1),
        ("1:1.0", "2.0", 1),
        ("1.0~rc1", "1.0", -1),
        ("1.0+deb12u1", "1.0", 1),
        ("9.2p1-2+deb12u3", "9.2p1-2+deb12u10", -1),
        ("1.0a", "1.0+", -1),
        ("2.36-9", "2.36-10", -1),
    ],
)
def test_compare_versions_examples(a: str, b: str, sign: int) -> None:
    result = checks.compare_versions(a, b)
    assert (result > 0) - (result < 0) == sign


_version_part = st.text(alphabet="0123456789abz.+~", min_size=1, max_size=8).filter(
    lambda s: s[0].isdigit()
)


@needs_dpkg
@settings(max_examples=150, deadline=None)
@given(
    a=_version_part,
    b=_version_part,
    ra=st.sampled_from(["", "-1", "-1~b", "-2+deb12u1"]),
    rb=st.sampled_from(["", "-1", "-0", "-10"]),
)
def test_compare_versions_agrees_with_dpkg(a: str, b: str, ra: str, rb: str) -> None:
    va, vb = a + ra, b + rb
    ours = checks.compare_versions(va, vb)
    for op, holds in (("lt", ours < 0), ("eq", ours == 0), ("gt", ours > 0)):
        done = subprocess.run(
            ["dpkg", "--compare-versions", va, op, vb], check=False, capture_output=True
        )
        assert done.returncode in (0, 1), done.stderr
        assert (done.returncode == 0) == holds, (va, op, vb)


# ---------------------------------------------------------------------------------------------
# invalid definitions: the one fail case, naming the control and the key

INVALID = [
    ("not-a-mapping", ["ssh"], None, None, "expected a mapping"),
    ("no-id", [{"type": "file", "path": "/x"}], None, "id", "required"),
    ("bad-id", [{"id": "a b", "type": "file", "path": "/x"}], None, "id", "expected an id"),
    ("no-type", [{"id": "x"}], "x", "type", "required"),
    ("unknown-type", [{"id": "x", "type": "registry"}], "x", "type", "expected one of"),
    (
        "unknown-key",
        [{"id": "x", "type": "file", "path": "/x", "perms": "0640"}],
        "x",
        "perms",
        "unknown key for a file control",
    ),
    (
        "other-type-key",
        [{"id": "x", "type": "sysctl", "key": "a.b", "value": 1, "path": "/x"}],
        "x",
        "path",
        "unknown key",
    ),
    ("missing-required", [{"id": "x", "type": "package"}], "x", "name", "required"),
    (
        "unquoted-mode",
        [{"id": "x", "type": "file", "path": "/x", "mode": 416}],
        "x",
        "mode",
        "quote the mode",
    ),
    ("bad-mode", [{"id": "x", "type": "file", "path": "/x", "mode": "u=rw"}], "x", "mode", "octal"),
    ("relative-path", [{"id": "x", "type": "file", "path": "etc/shadow"}], "x", "path", "absolute"),
    (
        "bad-regex",
        [{"id": "x", "type": "file", "path": "/x", "contains": "(unclosed"}],
        "x",
        "contains",
        "invalid regular expression",
    ),
    (
        "shell-line",
        [{"id": "x", "type": "command", "argv": "sshd -T | grep x"}],
        "x",
        "argv",
        "never a shell line",
    ),
    ("empty-argv", [{"id": "x", "type": "command", "argv": []}], "x", "argv", "non-empty"),
    ("bad-rc", [{"id": "x", "type": "command", "argv": ["true"], "rc": 300}], "x", "rc", "0..255"),
    (
        "bad-timeout",
        [{"id": "x", "type": "command", "argv": ["true"], "timeout": 0}],
        "x",
        "timeout",
        "1..3600",
    ),
    (
        "bad-bool",
        [{"id": "x", "type": "service", "name": "ssh", "running": "maybe"}],
        "x",
        "running",
        "boolean",
    ),
    (
        "service-nothing",
        [{"id": "x", "type": "service", "name": "ssh"}],
        "x",
        "running",
        "running, enabled or both",
    ),
    (
        "option-like-package",
        [{"id": "x", "type": "package", "name": "--admindir=/tmp"}],
        "x",
        "name",
        "Debian package name",
    ),
    (
        "version-absent",
        [{"id": "x", "type": "package", "name": "a", "state": "absent", "version": "1"}],
        "x",
        "version",
        "state: present",
    ),
    (
        "absent-with-mode",
        [{"id": "x", "type": "file", "path": "/x", "state": "absent", "mode": "0600"}],
        "x",
        "mode",
        "state: absent",
    ),
    (
        "dir-with-contains",
        [{"id": "x", "type": "file", "path": "/x", "state": "directory", "contains": "a"}],
        "x",
        "contains",
        "state: file only",
    ),
    (
        "sysctl-dotdot",
        [{"id": "x", "type": "sysctl", "key": "kernel/../../etc", "value": 1}],
        "x",
        "key",
        "'..'",
    ),
    (
        "duplicate",
        [{"id": "x", "type": "file", "path": "/a"}, {"id": "x", "type": "file", "path": "/b"}],
        "x",
        "id",
        "duplicate id",
    ),
]


@pytest.mark.parametrize(
    ("controls", "control_id", "key", "message"),
    [c[1:] for c in INVALID],
    ids=[c[0] for c in INVALID],
)
def test_invalid_definitions(
    controls: list[Any], control_id: str | None, key: str | None, message: str
) -> None:
    with pytest.raises(checks.ControlError) as caught:
        checks.normalize(controls)
    assert caught.value.control_id == control_id
    assert caught.value.key == key
    assert message in str(caught.value)


def test_invalid_definition_fails_the_module_naming_control_and_key() -> None:
    result = run_module(
        mspctl_check,
        {
            "controls": [
                {"id": "ok", "type": "sysctl", "key": "kernel.ostype", "value": "Linux"},
                {"id": "ssh.service", "type": "service", "name": "ssh", "runing": True},
            ]
        },
    )
    assert result["failed"] is True
    assert result["msg"].startswith(
        "invalid control definition: control 'ssh.service', "
        "key 'runing': unknown key for a service control"
    )
    assert (result["control_id"], result["key"]) == ("ssh.service", "runing")
    assert "findings" not in result


def test_defaults_and_titles() -> None:
    [control] = checks.normalize(
        [{"id": "x", "type": "file", "path": "/etc//shadow", "max_mode": "640", "owner": 0}]
    )
    assert control["state"] == "file"
    assert control["path"] == "/etc/shadow"
    assert control["max_mode"] == "0640"
    assert control["owner"] == "0"
    assert control["title"] == "/etc/shadow is a file (owner 0, mode at most 0640)"
    [command] = checks.normalize([{"id": "c", "type": "command", "argv": ["sshd", "-T"]}])
    assert (command["rc"], command["timeout"]) == (0, 30)


# ---------------------------------------------------------------------------------------------
# the module: read-only, check mode + diff writes nothing, idempotent


def snapshot(root: Path) -> dict[str, tuple[int, int, int, bytes]]:
    state = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        body = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        state[str(path)] = (info.st_mode, info.st_mtime_ns, info.st_size, body)
    return state


def module_controls(tree: Path) -> list[dict[str, Any]]:
    return [
        {"id": "conf.mode", "type": "file", "path": str(tree / "conf"), "mode": "0600"},
        {
            "id": "conf.line",
            "type": "file",
            "path": str(tree / "conf"),
            "contains": "^PermitRootLogin",
            "title": "Root login is configured",
        },
        {"id": "missing", "type": "file", "path": str(tree / "missing")},
        {"id": "dir", "type": "file", "path": str(tree / "dir"), "state": "directory"},
        {"id": "ostype", "type": "sysctl", "key": "kernel.ostype", "value": "Linux"},
        {"id": "cmd", "type": "command", "argv": ["ls", str(tree)], "stdout_regex": "^conf$"},
        {"id": "cmd.missing", "type": "command", "argv": ["no-such-program-mspctl"]},
    ]


EXPECTED_STATUSES = ["fail", "pass", "fail", "pass", "pass", "pass", "error"]


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check-diff"])
def test_module_reports_findings_and_writes_nothing(tree: Path, check_mode: bool) -> None:
    before = snapshot(tree)
    result = run_module(
        mspctl_check,
        {"policy": "baseline", "controls": module_controls(tree)},
        check=check_mode,
        diff=check_mode,
    )
    assert snapshot(tree) == before
    assert result["changed"] is False
    assert "diff" not in result
    assert not result.get("failed")
    findings = result["findings"]
    assert [f["status"] for f in findings] == EXPECTED_STATUSES
    assert [f["control_id"] for f in findings] == [c["id"] for c in module_controls(tree)]
    assert all(f["policy"] == "baseline" for f in findings)
    assert set(findings[0]) == FINDING_KEYS
    assert findings[0]["expected"] == {"state": "file", "mode": "0600"}
    assert findings[0]["actual"] == {"state": "file", "mode": "0640"}
    assert findings[1]["title"] == "Root login is configured"
    assert findings[2]["evidence"] == {"path": str(tree / "missing"), "failed": ["state"]}
    assert result["status"] == {
        "policy": "baseline",
        "controls": 7,
        "pass": 4,
        "fail": 2,
        "error": 1,
    }


def test_module_is_idempotent(tree: Path) -> None:
    args = {"policy": "baseline", "controls": module_controls(tree)}
    first = run_module(mspctl_check, args)
    second = run_module(mspctl_check, args)
    third = run_module(mspctl_check, args, check=True, diff=True)
    for result in (first, second, third):
        result.pop("invocation", None)
    assert first == second == third
    assert first["changed"] is False


def test_module_with_no_controls() -> None:
    result = run_module(mspctl_check, {})
    assert result["findings"] == []
    assert result["status"] == {
        "policy": "baseline",
        "controls": 0,
        "pass": 0,
        "fail": 0,
        "error": 0,
    }
