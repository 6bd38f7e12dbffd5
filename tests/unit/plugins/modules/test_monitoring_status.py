"""The monitoring policy's host side: plugins/module_utils/mspctl_monitoring.py (the checks and
their Prometheus rendering), the collector script the role deploys, the status module
mspctl_monitoring_status, and the alert rules template.

Checks are fed fake command output, mount tables and statvfs results; the maintenance window
logic is compared with the patch window engine itself by hypothesis; the module runs through
``main()`` with its host observations patched: check mode with diff changes and writes nothing,
a repeated run returns the same findings. The same code on real lab hosts (node exporter, the
timer, the MSP's Prometheus) is exercised by molecule/monitoring.
"""

from __future__ import annotations

import datetime as dt
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import yaml
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_monitoring as mon
from ansible_collections.mspctl.policy.plugins.module_utils import patch_window as pw
from ansible_collections.mspctl.policy.plugins.modules import monitoring_status as status_module
from ansible_collections.mspctl.policy.tests.unit.plugins.modules.helper import (
    run_module as run_main,
)
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[4]
ROLE = ROOT / "roles" / "monitoring"


def _load_script(name: str, path: Path) -> ModuleType:
    """The collector is a program deployed to hosts (no .py, imports its siblings by plain
    name): load it from its file, as python3 would run it."""
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


collector = _load_script(
    "_mspctl_monitoring_collector", ROLE / "files" / "mspctl-monitoring-collect"
)

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 7, 12, 0, tzinfo=UTC)  # a Saturday


class FakeRun:
    """``run(argv)`` answering from a table keyed by the command's first words."""

    def __init__(self, answers: dict[str, tuple[int, str, str]]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str]) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        for prefix, answer in self.answers.items():
            if " ".join(argv).startswith(prefix):
                return answer
        return 127, "", f"no such command: {argv[0]}"


# --------------------------------------------------------------------------- checks


def test_failed_units_lists_the_names() -> None:
    out = (
        "foo.service loaded failed failed Foo daemon\n"
        "\u25cf bar.mount loaded failed failed Bar mount\n"
    )
    assert mon.failed_units(FakeRun({"systemctl": (0, out, "")})) == ["bar.mount", "foo.service"]
    assert mon.failed_units(FakeRun({"systemctl": (0, "", "")})) == []


def test_failed_units_raises_when_systemctl_cannot_answer() -> None:
    with pytest.raises(OSError, match="not been booted with systemd"):
        mon.failed_units(FakeRun({"systemctl": (1, "", "System has not been booted with systemd")}))


MOUNTS = """\
overlay / overlay rw,relatime 0 0
tmpfs /tmp tmpfs rw 0 0
proc /proc proc rw 0 0
/dev/vda /run/host/os-release ext4 ro 0 0
/dev/sdb1 /srv/data ext4 rw 0 0
/dev/sdb1 /srv/data/bind ext4 rw 0 0
/dev/sdc1 /mnt/with\\040space xfs rw 0 0
overlay /var/cache/apt/archives overlay rw 0 0
/dev/sdd1 /backup ext4 rw 0 0
"""


def fake_fs(tables: dict[str, tuple[int, int, int, int]]) -> tuple[Any, Any]:
    """statvfs and stat over {mountpoint: (device id, blocks, free, available)}, 4 KiB blocks."""

    def statvfs(path: str) -> Any:
        _dev, blocks, free, avail = tables[path]
        return SimpleNamespace(f_blocks=blocks, f_bfree=free, f_bavail=avail, f_frsize=4096)

    def stat(path: str) -> Any:
        if path not in tables:
            raise FileNotFoundError(path)
        return SimpleNamespace(st_dev=tables[path][0])

    return statvfs, stat


def test_disk_usage_keeps_data_file_systems_once_each() -> None:
    statvfs, stat = fake_fs(
        {
            "/": (1, 1000, 500, 450),
            "/srv/data": (2, 1000, 100, 50),
            "/srv/data/bind": (2, 1000, 100, 50),
            "/mnt/with space": (3, 1000, 1000, 1000),
            "/backup": (4, 1000, 0, 0),
        }
    )
    usage = mon.disk_usage(MOUNTS, statvfs=statvfs, stat=stat, exclude=["/backup"])
    assert [d["mountpoint"] for d in usage] == ["/", "/mnt/with space", "/srv/data"]
    by_mount = {d["mountpoint"]: d for d in usage}
    # df's formula: used / (used + available to users): 500 / (500 + 450)
    assert by_mount["/"]["used_ratio"] == round(500 / 950, 4)
    assert by_mount["/srv/data"]["used_ratio"] == round(900 / 950, 4)
    assert by_mount["/srv/data"]["size_bytes"] == 1000 * 4096
    assert by_mount["/mnt/with space"]["used_ratio"] == 0.0


def test_a_vanished_mount_is_skipped() -> None:
    statvfs, stat = fake_fs({"/": (1, 10, 5, 5)})
    assert [d["mountpoint"] for d in mon.disk_usage(MOUNTS, statvfs=statvfs, stat=stat)] == ["/"]


def test_reboot_required_by_flag_file(tmp_path: Path) -> None:
    flag = tmp_path / "reboot-required"
    assert mon.reboot_required([str(flag)], str(tmp_path / "boot"), "6.1.0-1") == (False, None)
    flag.touch()
    assert mon.reboot_required([str(flag)], str(tmp_path / "boot"), "6.1.0-1")[0] is True


@pytest.mark.parametrize(
    ("installed", "running", "required"),
    [
        (["6.1.0-18-amd64", "6.1.0-20-amd64"], "6.1.0-18-amd64", True),
        (["6.1.0-18-amd64", "6.1.0-20-amd64"], "6.1.0-20-amd64", False),
        (["6.1.0-9-amd64", "6.1.0-10-amd64"], "6.1.0-10-amd64", False),  # 10 > 9, not "10" < "9"
        ([], "6.12.1-nspawn", False),  # a container boots no kernel of its own
    ],
)
def test_reboot_required_by_newer_kernel(
    tmp_path: Path, installed: list[str], running: str, required: bool
) -> None:
    boot = tmp_path / "boot"
    boot.mkdir()
    for version in installed:
        (boot / f"vmlinuz-{version}").touch()
    assert mon.reboot_required([], str(boot), running)[0] is required


APT_SIMULATION = """\
Reading package lists...
Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
Inst openssl [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
Inst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.11/stable [all])
Inst newpkg (1.0-1 Debian:13/trixie [amd64])
Conf libssl3 (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
Conf tzdata (2025b-0+deb12u1 Debian:12.11/stable [all])
"""


def test_pending_updates_by_kind() -> None:
    assert mon.parse_simulated_upgrade(APT_SIMULATION) == {"security": 2, "other": 2}
    run = FakeRun({"apt-get": (0, APT_SIMULATION, "")})
    assert mon.pending_updates(run) == {"security": 2, "other": 2}
    assert "-s" in run.calls[0] and "Debug::NoLocking=true" in run.calls[0]


def test_pending_updates_raises_when_apt_fails() -> None:
    with pytest.raises(OSError, match="apt-get"):
        mon.pending_updates(FakeRun({"apt-get": (100, "", "E: broken")}))


def test_smart_health_reports_only_devices_with_smart() -> None:
    cmd = "smartctl -H -j -n standby /dev/"
    answers = {
        cmd + "sda": (0, json.dumps({"smart_status": {"passed": True}}), ""),
        cmd + "sdb": (8, json.dumps({"smart_status": {"passed": False}}), ""),  # failing
        cmd + "sdc": (4, json.dumps({"smartctl": {"exit_status": 4}}), ""),  # no SMART
        cmd + "sdd": (2, "{}", ""),  # cannot open the device
        cmd + "sde": (0, "not json", ""),
    }
    health = mon.smart_health(FakeRun(answers), ["sda", "sdb", "sdc", "sdd", "sde"])
    assert health == {"sda": True, "sdb": False}


def test_smart_devices_are_physical_whole_disks(tmp_path: Path) -> None:
    for name, physical in [
        ("sda", True),
        ("nvme0n1", True),
        ("loop0", True),
        ("dm-0", False),
        ("vda", False),
        ("zram0", False),
    ]:
        (tmp_path / name).mkdir()
        if physical:
            (tmp_path / name / "device").mkdir()
    assert mon.smart_devices(str(tmp_path)) == ["nvme0n1", "sda"]


def test_backup_status_reads_what_the_backup_role_writes(tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    assert mon.backup_status(str(status)) is None
    # the shape mspctl_restic.update_status writes
    status.write_text(
        json.dumps(
            {
                "version": 1,
                "last_success": 1767225600.5,
                "last_success_at": "2026-01-01T00:00:00Z",
                "max_age_hours": 26,
                "restore_test": {"result": "fail", "at": "2026-01-01T01:00:00Z"},
            }
        )
    )
    assert mon.backup_status(str(status)) == {
        "valid": True,
        "last_success": 1767225600.5,
        "max_age_hours": 26,
        "restore_test": {"passed": False, "at": 1767229200.0},
    }
    status.write_text(json.dumps({"last_success_at": "2026-01-01T00:00:00+01:00"}))
    assert mon.backup_status(str(status))["last_success"] == 1767222000.0
    status.write_text(json.dumps({"last_success": None, "max_age_hours": True}))
    assert mon.backup_status(str(status)) == {
        "valid": True,
        "last_success": None,
        "max_age_hours": None,
        "restore_test": None,
    }
    status.write_text("{not json")
    assert mon.backup_status(str(status))["valid"] is False


# --------------------------------------------------------------------------- maintenance

SATURDAY_NIGHT = {"days": ["sat"], "start": "22:00", "duration": "4h", "timezone": "Europe/Paris"}


def test_maintenance_inside_and_outside_the_window() -> None:
    inside = dt.datetime(2026, 3, 7, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    status = mon.maintenance([SATURDAY_NIGHT], inside, pw)
    assert status["active"] is True
    assert status["end"] == dt.datetime(2026, 3, 8, 1, 0, tzinfo=UTC).timestamp()
    assert status["next_start"] == dt.datetime(2026, 3, 14, 21, 0, tzinfo=UTC).timestamp()
    status = mon.maintenance([SATURDAY_NIGHT], NOW, pw)
    assert status == {
        "active": False,
        "end": None,
        "next_start": dt.datetime(2026, 3, 7, 21, 0, tzinfo=UTC).timestamp(),
    }
    assert mon.maintenance([], NOW, pw) == {"active": False, "end": None, "next_start": None}


def test_a_blacked_out_window_does_not_silence() -> None:
    spec = dict(SATURDAY_NIGHT, blackout_dates=["2026-03-07"])
    inside = dt.datetime(2026, 3, 7, 22, 30, tzinfo=UTC)
    assert mon.maintenance([spec], inside, pw)["active"] is False


window_specs = st.fixed_dictionaries(
    {
        "days": st.lists(
            st.sampled_from(
                ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "daily", "2nd tue", "last fri"]
            ),
            min_size=1,
            max_size=3,
        ),
        "start": st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59)),
        "duration": st.sampled_from(["30m", "1h", "4h", "1h30m", "24h"]),
        "timezone": st.sampled_from(
            ["UTC", "Europe/Paris", "America/New_York", "Australia/Sydney"]
        ),
    }
)
instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2040, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(specs=st.lists(window_specs, min_size=1, max_size=3), now=instants)
def test_maintenance_agrees_with_the_window_engine(
    specs: list[dict[str, Any]], now: dt.datetime
) -> None:
    status = mon.maintenance(specs, now, pw)
    windows = [pw.parse_window(spec) for spec in specs]
    assert status["active"] == any(pw.is_open(w, now) for w in windows)
    if status["active"]:
        assert status["end"] > now.timestamp()
        ends = [pw.current_or_next_occurrence(w, now) for w in windows if pw.is_open(w, now)]
        assert status["end"] == max(o.end_utc.timestamp() for o in ends if o is not None)
    else:
        assert status["end"] is None
        starts = [
            o.start_utc.timestamp()
            for o in (pw.current_or_next_occurrence(w, now) for w in windows)
            if o is not None
        ]
        assert status["next_start"] == min(starts)


# --------------------------------------------------------------------------- rendering


label_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


@given(
    values=st.lists(
        st.tuples(label_values, st.floats(allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=5,
    )
)
def test_exposition_round_trip(values: list[tuple[str, float]]) -> None:
    metrics = mon.Metrics()
    for index, (text, value) in enumerate(values):
        metrics.add("mspctl_test", value, {"mountpoint": text, "n": str(index)}, 'help "x"\n')
    parsed = mon.parse_exposition(metrics.render(), prefix="mspctl_")
    assert [(name, labels["mountpoint"], value) for name, labels, value in parsed] == [
        ("mspctl_test", text, float(value)) for text, value in values
    ]


def test_render_format() -> None:
    metrics = mon.Metrics()
    metrics.add("mspctl_a", 1, None, "A.")
    metrics.add("mspctl_b", True, {"k": 'quote " back \\ nl \n'}, "B.")
    metrics.add("mspctl_a", 0.25, {"x": "y"})
    assert metrics.render() == (
        '# HELP mspctl_a A.\n# TYPE mspctl_a gauge\nmspctl_a 1\nmspctl_a{x="y"} 0.25\n'
        "# HELP mspctl_b B.\n# TYPE mspctl_b gauge\n"
        'mspctl_b{k="quote \\" back \\\\ nl \\n"} 1\n'
    )


# --------------------------------------------------------------------------- the collector

ALL_CHECKS = list(mon.CHECKS)


def collect(
    config: dict[str, Any],
    run: FakeRun,
    state: dict[str, Any] | None = None,
    mounts: str = "overlay / overlay rw 0 0\n",
) -> Any:
    return mon.collect(config, run, NOW, engine=pw, state=state, read=lambda _path: mounts)


def samples(metrics: Any) -> dict[str, float]:
    return {
        name + json.dumps(labels, sort_keys=True): value
        for name, labels, value in mon.parse_exposition(metrics.render(), "mspctl_")
    }


def test_collect_every_check(tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    status.write_text(
        json.dumps(
            {
                "last_success": 1000.0,
                "max_age_hours": 25,
                "restore_test": {"result": "pass", "at": 2000},
            }
        )
    )
    run = FakeRun(
        {
            "systemctl": (0, "a.service loaded failed failed A\n", ""),
            "apt-get": (0, APT_SIMULATION, ""),
        }
    )
    config = {
        "checks": ALL_CHECKS,
        "disk": {"warn_percent": 80, "crit_percent": 90},
        "backup": {"status_file": str(status)},
        "maintenance": {"enabled": True, "windows": [SATURDAY_NIGHT]},
    }
    got = samples(collect(config, run))
    assert got["mspctl_failed_units{}"] == 1
    assert got['mspctl_failed_unit{"unit": "a.service"}'] == 1
    assert got['mspctl_pending_updates{"kind": "security"}'] == 2
    assert got["mspctl_disk_crit_ratio{}"] == 0.9
    assert any(k.startswith("mspctl_disk_used_ratio{") for k in got)
    assert got["mspctl_backup_max_age_seconds{}"] == 25 * 3600
    assert got["mspctl_backup_last_success_timestamp_seconds{}"] == 1000
    assert got["mspctl_backup_restore_test_passed{}"] == 1
    assert got["mspctl_maintenance_mode{}"] == 1
    assert got["mspctl_maintenance{}"] == 0
    assert got["mspctl_maintenance_end_timestamp_seconds{}"] == 0
    assert got["mspctl_collector_last_run_timestamp_seconds{}"] == NOW.timestamp()
    assert not any(k.startswith("mspctl_check_error") for k in got)


def test_collect_only_the_enabled_checks() -> None:
    run = FakeRun({"systemctl": (0, "", "")})
    got = samples(collect({"checks": ["failed_units"]}, run))
    assert got['mspctl_check_enabled{"check": "failed_units"}'] == 1
    assert got['mspctl_check_enabled{"check": "smart"}'] == 0
    assert not any(k.startswith(("mspctl_disk", "mspctl_pending", "mspctl_backup")) for k in got)
    assert got["mspctl_maintenance_mode{}"] == 0
    assert [c[0] for c in run.calls] == ["systemctl"]


def test_a_broken_check_is_reported_and_the_others_still_collected() -> None:
    run = FakeRun({"systemctl": (1, "", "Failed to connect to bus")})
    got = samples(collect({"checks": ["failed_units", "disk_usage"]}, run))
    assert got['mspctl_check_error{"check": "failed_units"}'] == 1
    assert "mspctl_failed_units{}" not in got
    assert any(k.startswith("mspctl_disk_used_ratio{") for k in got)


def test_a_bad_window_is_a_check_error_not_a_crash() -> None:
    config = {"checks": [], "maintenance": {"enabled": True, "windows": [{"days": ["someday"]}]}}
    got = samples(collect(config, FakeRun({})))
    assert got['mspctl_check_error{"check": "maintenance"}'] == 1
    assert got["mspctl_maintenance{}"] == 0


def test_pending_updates_are_cached_until_apt_changes() -> None:
    run = FakeRun({"apt-get": (0, APT_SIMULATION, "")})
    state: dict[str, Any] = {}
    collect({"checks": ["pending_updates"]}, run, state)
    collect({"checks": ["pending_updates"]}, run, state)
    assert len(run.calls) == 1
    state["pending_updates"]["key"] = "apt lists changed"
    collect({"checks": ["pending_updates"]}, run, state)
    assert len(run.calls) == 2


def test_collector_script_writes_the_textfile_atomically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    textfile = tmp_path / "textfile" / "mspctl.prom"
    textfile.parent.mkdir()
    config = tmp_path / "monitoring.json"
    config.write_text(
        json.dumps(
            {
                "checks": ["backup_age"],
                "textfile": str(textfile),
                "state_dir": str(tmp_path / "state"),
                "backup": {"status_file": str(tmp_path / "none.json")},
            }
        )
    )
    assert collector.main(["--config", str(config), "--stdout"]) == 0
    assert "mspctl_backup_status_present 0" in capsys.readouterr().out
    assert not textfile.exists()
    assert collector.main(["--config", str(config)]) == 0
    assert "mspctl_backup_status_present 0\n" in textfile.read_text()
    assert sorted(os.listdir(textfile.parent)) == ["mspctl.prom"]  # no temporary file left
    assert oct((tmp_path / "state" / "state.json").stat().st_mode & 0o777) == "0o600"
    assert collector.main(["--config", str(tmp_path / "missing.json")]) == 1


# --------------------------------------------------------------------------- the module

PARAMS: dict[str, Any] = {
    "service": "prometheus-node-exporter",
    "address": "127.0.0.1",
    "port": 9100,
    "timeout": 10,
    "max_metrics_age": 300,
    "checks": ["disk_usage", "failed_units"],
    "disk_crit_percent": 95,
    "disk_exclude_mountpoints": [],
    "msp_hook": {"server": "msp", "target": "10.0.0.5:9100", "target_file": "/x.yml"},
}
T0 = 1_800_000_000.0


def exposition(last_run: float = T0 - 30, extra: str = "") -> str:
    return (
        "# HELP node_load1 x\nnode_load1 0.1\n"
        "mspctl_failed_units 0\nmspctl_maintenance 0\n"
        f"mspctl_collector_last_run_timestamp_seconds {last_run:.0f}\n" + extra
    )


def healthy() -> dict[str, Any]:
    return {
        "agent": (True, True, None),
        "scrape": (exposition(), None),
        "failed_units": [],
        "disks": [
            {
                "mountpoint": "/",
                "device": "/dev/sda1",
                "fstype": "ext4",
                "used_ratio": 0.42,
                "size_bytes": 1,
            }
        ],
    }


def by_control(findings: list[dict[str, Any]]) -> dict[str, str]:
    return {f["control_id"]: f["status"] for f in findings}


def test_evaluate_a_compliant_host() -> None:
    findings, status = status_module.evaluate(PARAMS, healthy(), T0)
    assert by_control(findings) == {
        "monitoring.agent_running": "pass",
        "monitoring.metrics_exposed": "pass",
        "monitoring.failed_units": "pass",
        "monitoring.disk_usage": "pass",
        "monitoring.msp_hook": "pass",
    }
    assert all(f["policy"] == "monitoring" for f in findings)
    assert status["metrics"]["age_seconds"] == 30
    assert status["metrics"]["mspctl_samples"] == 3
    assert status["metrics"]["maintenance"] is False
    assert status["disks"][0]["used_percent"] == 42.0


@pytest.mark.parametrize(
    ("change", "control", "expected", "actual_has"),
    [
        ({"agent": (True, False, None)}, "monitoring.agent_running", "fail", "disabled"),
        (
            {"agent": (None, None, "systemctl not found")},
            "monitoring.agent_running",
            "error",
            "systemctl",
        ),
        ({"scrape": (None, "Connection refused")}, "monitoring.metrics_exposed", "fail", "refused"),
        ({"scrape": ("node_load1 1\n", None)}, "monitoring.metrics_exposed", "fail", "no mspctl_"),
        (
            {"scrape": (exposition(T0 - 301), None)},
            "monitoring.metrics_exposed",
            "fail",
            "301 s ago",
        ),
        (
            {"scrape": (exposition(extra='mspctl_check_error{check="smart"} 1\n'), None)},
            "monitoring.metrics_exposed",
            "pass",
            "samples",
        ),
        ({"failed_units": ["cups.service"]}, "monitoring.failed_units", "fail", "cups.service"),
        ({"failed_units": "Failed to connect to bus"}, "monitoring.failed_units", "error", "bus"),
        (
            {
                "disks": [
                    {
                        "mountpoint": "/srv",
                        "device": "/dev/sdb",
                        "fstype": "xfs",
                        "used_ratio": 0.951,
                        "size_bytes": 1,
                    }
                ]
            },
            "monitoring.disk_usage",
            "fail",
            "/srv at 95.1",
        ),
    ],
)
def test_evaluate_a_failing_control(
    change: dict[str, Any], control: str, expected: str, actual_has: str
) -> None:
    observed = dict(healthy(), **change)
    findings, _status = status_module.evaluate(PARAMS, observed, T0)
    finding = next(f for f in findings if f["control_id"] == control)
    assert finding["status"] == expected
    assert actual_has in finding["actual"]
    others = [f["status"] for f in findings if f["control_id"] != control]
    assert set(others) == {"pass"}


def test_no_msp_host_fails_the_hook() -> None:
    params = dict(PARAMS, msp_hook={"server": "", "target": "", "target_file": None})
    findings, status = status_module.evaluate(params, healthy(), T0)
    assert by_control(findings)["monitoring.msp_hook"] == "fail"
    assert status["msp_hook"] == {}


def test_checks_turned_off_are_not_reported() -> None:
    findings, status = status_module.evaluate(dict(PARAMS, checks=["backup_age"]), healthy(), T0)
    assert "monitoring.failed_units" not in by_control(findings)
    assert "monitoring.disk_usage" not in by_control(findings)
    assert status["failed_units"] is None and status["disks"] == []


def run_module(
    monkeypatch: pytest.MonkeyPatch,
    args: dict[str, Any],
    observed: dict[str, Any],
    *,
    check_mode: bool = False,
    diff: bool = False,
) -> dict[str, Any]:
    """The module's result (helper.run_module), with the host observations patched in and the
    module's clock at T0 (two runs a second apart would see different metric ages)."""
    monkeypatch.setattr(status_module, "observe", lambda module: observed)
    monkeypatch.setattr(status_module, "time", SimpleNamespace(time=lambda: T0))
    return run_main(status_module, args, check=check_mode, diff=diff)


def test_module_is_read_only_in_check_mode_and_repeatable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    observed = dict(healthy(), failed_units=["cups.service"])  # a failing control: still no change
    args = {"checks": ["disk_usage", "failed_units"], "msp_hook": {"server": "msp"}}
    first = run_module(monkeypatch, args, observed)
    checked = run_module(monkeypatch, args, observed, check_mode=True, diff=True)
    again = run_module(monkeypatch, args, observed)
    assert first["changed"] is False and checked["changed"] is False and again["changed"] is False
    assert "failed" not in first
    assert "diff" not in checked
    strip = [{k: v for k, v in f.items() if k != "actual"} for f in first["findings"]]
    assert strip == [{k: v for k, v in f.items() if k != "actual"} for f in checked["findings"]]
    assert first["findings"] == again["findings"]
    assert by_control(first["findings"])["monitoring.failed_units"] == "fail"
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_module_rejects_an_unknown_check(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_module(monkeypatch, {"checks": ["uptime"]}, healthy())
    assert result["failed"] is True
    assert "checks" in result["msg"]


def test_observe_on_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real observers, on whatever runs the tests: answers or errors, never a crash."""
    module = SimpleNamespace(
        params=dict(PARAMS, port=1, timeout=1),  # nothing listens on port 1
        get_bin_path=lambda name: None,
        run_command=lambda argv: (1, "", "not here"),
    )
    observed = status_module.observe(module)
    assert observed["agent"] == (None, None, "systemctl not found")
    assert observed["scrape"][0] is None
    assert observed["failed_units"] == "systemctl list-units failed: not here"
    assert isinstance(observed["disks"], list)


# --------------------------------------------------------------------------- the alert rules


def render_rules(**overrides: Any) -> dict[str, Any]:
    """The role's rules template, rendered with the role's defaults as Ansible would."""
    import jinja2
    from ansible.plugins.filter.core import to_nice_yaml

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
    )
    env.filters["to_nice_yaml"] = to_nice_yaml
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    context = dict(
        defaults, ansible_managed="Ansible managed", monitoring_host={"client": "acme"}, **overrides
    )
    return yaml.safe_load(env.get_template("rules.yml.j2").render(context))


def test_alert_rules_are_per_client_silenced_in_maintenance_and_follow_the_sla() -> None:
    rules = render_rules()
    assert [g["name"] for g in rules["groups"]] == ["mspctl-acme"]
    alerts = {r["alert"]: r for r in rules["groups"][0]["rules"]}
    assert {
        "MspctlHostDown",
        "MspctlDiskFull",
        "MspctlFailedUnits",
        "MspctlBackupTooOld",
        "MspctlRebootRequired",
        "MspctlSmartUnhealthy",
    } <= set(alerts)
    for name, rule in alerts.items():
        # (condition) unless <in maintenance>: the whole condition, "or" branches included
        assert rule["expr"].startswith("(")
        assert ") unless on(mspctl_client, instance) (" in rule["expr"]
        assert rule["expr"].count('mspctl_client="acme"') >= 2, name
        assert rule["labels"]["severity"] in (
            "{{ $labels.mspctl_severity }}",
            "{{ $labels.mspctl_advisory_severity }}",
        )
        assert rule["for"] and rule["annotations"]["summary"]
    assert alerts["MspctlHostDown"]["labels"]["severity"] == "{{ $labels.mspctl_severity }}"
    assert alerts["MspctlRebootRequired"]["labels"]["severity"] == (
        "{{ $labels.mspctl_advisory_severity }}"
    )


def test_alert_durations_come_from_the_role_inputs() -> None:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    durations = dict(defaults["monitoring_alert_for"], host_down="2m")
    rules = render_rules(monitoring_alert_for=durations)["groups"][0]["rules"]
    alerts = {r["alert"]: r for r in rules}
    assert alerts["MspctlHostDown"]["for"] == "2m"


def test_role_spec_and_defaults_agree() -> None:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    assert set(defaults["monitoring_alert_for"]) == set(options["monitoring_alert_for"]["options"])
    assert options["monitoring_checks"]["choices"] == list(mon.CHECKS)


def test_a_booked_one_off_window_silences_only_during_the_booking() -> None:
    # mspctl maintenance book: a spec with date instead of days (Europe/Rome, 23:00 CET for
    # 5h across the change to summer time: 22:00..03:00 UTC)
    booked = {"date": "2027-03-27", "start": "23:00", "duration": "300m", "timezone": "Europe/Rome"}
    start = dt.datetime(2027, 3, 27, 22, 0, tzinfo=UTC)
    end = dt.datetime(2027, 3, 28, 3, 0, tzinfo=UTC)
    before = mon.maintenance([booked], start - dt.timedelta(seconds=1), pw)
    assert before == {"active": False, "end": None, "next_start": start.timestamp()}
    inside = mon.maintenance([booked], start + dt.timedelta(hours=4), pw)
    assert inside == {"active": True, "end": end.timestamp(), "next_start": None}
    for instant in (end, end + dt.timedelta(days=7), start - dt.timedelta(days=7)):
        assert mon.maintenance([booked], instant, pw)["active"] is False
    assert mon.maintenance([booked], end, pw)["next_start"] is None
