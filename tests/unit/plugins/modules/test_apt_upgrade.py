"""The patching policy's apply side: plugins/module_utils/mspctl_patching.py and the module
mspctl_apt_upgrade.

apt is replaced by a fake backend holding installed versions, holds and the versions the
"mirror" offers; the module's plan, check mode, diff, hooks, holds, run record and reboot
decision run for real against it. The real apt (python3-apt, apt-get -s, dpkg) is exercised on
lab hosts by molecule/patching.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_patching as pu
from ansible_collections.mspctl.policy.plugins.modules import apt_upgrade as upgrade
from ansible_collections.mspctl.policy.tests.unit.plugins.modules.apt_fake import (
    FakeApt,
    FakeModule,
)
from ansible_collections.mspctl.policy.tests.unit.plugins.modules.helper import run_module
from hypothesis import given, settings
from hypothesis import strategies as st

NOW = dt.datetime(2026, 12, 5, 21, 30, tzinfo=dt.UTC)
BOOT = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def mirror() -> dict[str, dict[str, str]]:
    return {
        "openssl": {"3.0.20": "bookworm", "3.0.22": "bookworm-security"},
        "tzdata": {"2026.2": "bookworm", "2026.6": "bookworm-updates"},
        "libc6": {"2.36.8": "bookworm", "2.36.9": "bookworm-security"},
        "postgresql": {"15.8": "bookworm", "15.9": "bookworm-security"},
        "nginx": {"1.22.1": "bookworm", "1.22.2": "bookworm-security"},
    }


def host(**kwargs: Any) -> FakeApt:
    installed = {
        "openssl": "3.0.20",
        "tzdata": "2026.2",
        "libc6": "2.36.8",
        "postgresql": "15.8",
        "nginx": "1.22.1",
        "bash": "5.2.15",
    }
    return FakeApt(installed, mirror(), **kwargs)


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Reboot flag files under tmp_path instead of /run."""
    monkeypatch.setattr(pu, "REBOOT_REQUIRED_FILE", str(tmp_path / "reboot-required"))
    monkeypatch.setattr(pu, "REBOOT_REQUIRED_PKGS", str(tmp_path / "reboot-required.pkgs"))
    return tmp_path


def params(state_dir: Path, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "scope": "security",
        "allowed": True,
        "forced": False,
        "reason": "outside window",
        "holds": [],
        "exclusions": [],
        "pre_hooks": ["systemctl stop app"],
        "post_hooks": ["systemctl start app"],
        "update_cache": True,
        "cache_valid_time": 3600,
        "reboot_policy": "if_required",
        "reboot_packages": list(pu.DEFAULT_REBOOT_PACKAGES),
        "state_dir": str(state_dir / "state"),
    }
    values.update(overrides)
    return values


def run(
    apt: FakeApt,
    p: dict[str, Any],
    check: bool = False,
    now: dt.datetime = NOW,
    boot_id: str = "boot-1",
) -> dict[str, Any]:
    result: dict[str, Any] = upgrade.run(
        FakeModule(check), apt, p, now, boot=BOOT, current_boot_id=boot_id
    )
    return result


def record(p: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(p["state_dir"]) / "last-run.json").read_text())
    return data


# --------------------------------------------------------------------------- pure functions

SIMULATION = """\
NOTE: This is only a simulation!
Reading package lists...
Inst tzdata [2026b-0+deb12u1] (2026f-0+deb12u1 Debian-Security:12/oldstable-security [all])
Inst libssl3 [3.0.20-1~deb12u2] (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security [amd64])
Inst libfoo2 (2.0-1 Debian:12.12/oldstable [amd64])
Remv libfoo1 [1.0-3]
Conf tzdata (2026f-0+deb12u1 Debian-Security:12/oldstable-security [all])
"""


def test_parse_simulation_reads_upgrades_new_packages_and_removals() -> None:
    changes, removed = pu.parse_simulation(SIMULATION)
    assert changes == {
        "tzdata": ["2026b-0+deb12u1", "2026f-0+deb12u1"],
        "libssl3": ["3.0.20-1~deb12u2", "3.0.22-1~deb12u2"],
        "libfoo2": [None, "2.0-1"],
    }
    assert removed == ["libfoo1"]


@pytest.mark.parametrize(
    ("archive", "codename", "label", "expected"),
    [
        ("oldstable-security", "bookworm-security", "Debian-Security", True),
        ("bookworm-security", "", "mspctl-test", True),
        ("stable-updates", "trixie-updates", "Debian", False),
        ("now", "", "", False),
    ],
)
def test_security_origin(archive: str, codename: str, label: str, expected: bool) -> None:
    assert pu.is_security_origin(archive, codename, label) is expected


def test_select_by_scope_holds_and_exclusions() -> None:
    _installed, updates = host().packages()
    assert pu.select(updates, "security", set(), []) == {
        "openssl": "3.0.22",
        "libc6": "2.36.9",
        "postgresql": "15.9",
        "nginx": "1.22.2",
    }
    assert pu.select(updates, "all", {"postgresql"}, ["ngin*", "libc*"]) == {
        "openssl": "3.0.22",
        "tzdata": "2026.6",
    }
    with pytest.raises(ValueError, match="scope"):
        pu.select(updates, "everything", set(), [])


update_strategy = st.builds(
    pu.Update,
    name=st.sampled_from(["a", "b", "c", "libx", "liby", "linux-image-6.1"]),
    installed=st.just("1"),
    candidate=st.sampled_from(["2", "3"]),
    security=st.sampled_from([None, "2"]),
    held=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(
    updates=st.lists(update_strategy, unique_by=lambda u: u.name),
    scope=st.sampled_from(pu.SCOPES),
    held=st.sets(st.sampled_from(["a", "b", "libx"])),
    exclusions=st.lists(st.sampled_from(["c", "lib*", "linux-image-*", "zzz"]), max_size=2),
)
def test_select_never_touches_held_or_excluded(
    updates: list[Any], scope: str, held: set[str], exclusions: list[str]
) -> None:
    targets = pu.select(updates, scope, held, exclusions)
    by_name = {u.name: u for u in updates}
    for name, version in targets.items():
        assert name not in held
        assert not pu.matches(name, exclusions)
        update = by_name[name]
        assert version == (update.security if scope == "security" else update.candidate)
    pending = pu.split_pending(updates)
    assert sorted(name for names in pending.values() for name in names) == sorted(by_name)
    assert set(pending["held"]) == {u.name for u in updates if u.held}


def test_reboot_state_by_policy(paths: Path) -> None:
    upgraded = {"last_upgrade": "2026-12-05T21:00:00+00:00", "upgrade_boot_id": "boot-1"}
    never = pu.reboot_state("never", upgraded, boot=BOOT, current_boot_id="boot-1")
    assert never["upgraded_since_boot"] and not never["due"]
    assert pu.reboot_state("always", upgraded, boot=BOOT, current_boot_id="boot-1")["due"]
    # after the reboot the boot ID differs: nothing is due any more
    assert not pu.reboot_state("always", upgraded, boot=NOW, current_boot_id="boot-2")["due"]
    assert not pu.reboot_state("if_required", upgraded, boot=BOOT, current_boot_id="boot-1")["due"]
    assert pu.mark_reboot_required(["libc6", "tzdata"], pu.DEFAULT_REBOOT_PACKAGES) == ["libc6"]
    required = pu.reboot_state("if_required", {}, boot=BOOT)
    assert required["required"] and required["due"] and required["packages"] == ["libc6"]
    kernel = pu.reboot_state("if_required", {}, kernel="vmlinuz-6.1.0-40-amd64")
    assert kernel["due"] and kernel["packages"] == ["libc6", "vmlinuz-6.1.0-40-amd64"]
    # without boot IDs the upgrade time is compared with the boot time
    assert pu.reboot_state("always", {"last_upgrade": "2026-12-05T21:00:00Z"}, boot=BOOT)["due"]


# --------------------------------------------------------------------------- the module


def test_a_change_upgrades_in_scope_runs_hooks_around_it_and_records_the_run(
    tmp_path: Path, paths: Path
) -> None:
    apt = host(auto={"openssl"})
    p = params(tmp_path, holds=["postgresql"], exclusions=["nginx"])
    result = run(apt, p)

    assert result["changed"] and result["outcome"] == "patched"
    assert result["plan"]["packages"] == {
        "openssl": ["3.0.20", "3.0.22"],
        "libc6": ["2.36.8", "2.36.9"],
    }
    assert result["plan"]["hold"] == ["postgresql"]
    assert result["plan"]["kinds"] == {"security": 2, "other": 0}
    assert apt.calls == [
        ("hold", ["postgresql"]),
        ("hook", "systemctl stop app"),
        ("install", {"libc6": "2.36.9", "openssl": "3.0.22"}),
        ("auto", ["openssl"]),  # auto marks survive apt-get install
        ("hook", "systemctl start app"),
    ]
    assert apt.installed["openssl"] == "3.0.22" and apt.installed["nginx"] == "1.22.1"
    assert apt.installed["postgresql"] == "15.8" and "postgresql" in apt.held
    assert result["diff"]["before"] == {
        "packages": {"openssl": "3.0.20", "libc6": "2.36.8"},
        "holds": [],
    }
    assert result["diff"]["after"] == {
        "packages": {"openssl": "3.0.22", "libc6": "2.36.9"},
        "holds": ["postgresql"],
    }
    assert result["pending"] == {"security": ["nginx"], "other": ["tzdata"], "held": ["postgresql"]}
    assert [h["stage"] for h in result["hooks"]] == ["pre", "post"]
    saved = record(p)
    assert saved["last_run"] == saved["last_upgrade"] == "2026-12-05T21:30:00+00:00"
    assert saved["upgraded"]["libc6"] == ["2.36.8", "2.36.9"]
    assert saved["holds"] == ["postgresql"] and saved["upgrade_boot_id"] == "boot-1"
    # libc6 needs a reboot: flagged for everyone, and due under if_required
    assert result["reboot"]["required"] and result["reboot"]["due"]
    assert (paths / "reboot-required.pkgs").read_text() == "libc6\n"


def test_check_mode_with_diff_plans_the_same_change_and_writes_nothing(
    tmp_path: Path, paths: Path
) -> None:
    apt = host()
    p = params(tmp_path, scope="all", holds=["postgresql"])
    result = run(apt, p, check=True)

    assert result["changed"] and result["outcome"] == "would patch"
    assert set(result["plan"]["packages"]) == {"openssl", "tzdata", "libc6", "nginx"}
    assert result["plan"]["kinds"] == {"security": 3, "other": 1}  # tzdata is not security
    assert result["diff"]["after"]["holds"] == ["postgresql"]
    assert [c for c in apt.calls if c[0] != "hook"] == [] and result["hooks"] == []
    assert apt.installed == host().installed and apt.held == set()
    assert not Path(p["state_dir"]).exists() and not (paths / "reboot-required").exists()
    # as the run would leave the host: libc6 upgraded, so a reboot would be due
    assert result["reboot"]["due"] and result["reboot"]["packages"] == ["libc6"]
    assert result["pending"] == {"security": [], "other": [], "held": ["postgresql"]}
    # the real run makes exactly the planned change
    real = run(apt, p)
    assert real["plan"] == result["plan"] and real["diff"] == result["diff"]


def test_a_second_run_changes_nothing_and_runs_no_hook(tmp_path: Path, paths: Path) -> None:
    apt = host()
    p = params(tmp_path, scope="all", holds=["postgresql"], reboot_policy="always")
    assert run(apt, p)["changed"]
    first = record(p)
    apt.calls.clear()

    again = run(apt, p, now=NOW + dt.timedelta(minutes=5))
    assert not again["changed"] and again["outcome"] == "up to date"
    assert "diff" not in again and apt.calls == []
    assert again["reboot"]["due"]  # upgraded during this boot, policy always
    later = record(p)
    assert later["last_run"] == "2026-12-05T21:35:00+00:00"
    assert later["last_upgrade"] == first["last_upgrade"]
    # a reboot: new boot ID, /run emptied
    (paths / "reboot-required").unlink()
    assert run(apt, p, check=True, boot_id="boot-2")["changed"] is False
    assert not run(apt, p, boot_id="boot-2")["reboot"]["due"]


def test_outside_the_window_nothing_changes_but_the_pending_work_is_reported(
    tmp_path: Path, paths: Path
) -> None:
    apt = host()
    p = params(tmp_path, allowed=False, reason="outside window", holds=["postgresql"])
    result = run(apt, p)

    assert not result["changed"] and "diff" not in result
    assert result["outcome"] == "pending"
    assert result["msg"] == "3 updates pending, outside window: nothing changed"
    assert result["plan"]["hold"] == ["postgresql"]
    assert result["plan"]["kinds"] == {"security": 3, "other": 0}  # planned, not applied
    assert apt.calls == [] and apt.installed == host().installed and apt.held == set()
    assert not (Path(p["state_dir"]) / "last-run.json").exists()
    assert not result["reboot"]["due"]
    blackout = run(apt, params(tmp_path, allowed=False, reason="blackout"), check=True)
    assert blackout["msg"].endswith("pending, blackout: nothing changed")


def test_holds_set_by_mspctl_are_released_and_holds_set_by_hand_kept(
    tmp_path: Path, paths: Path
) -> None:
    apt = host(held={"bash"})
    p = params(tmp_path, holds=["postgres*", "not-installed"], pre_hooks=[], post_hooks=[])
    first = run(apt, p)
    assert first["holds_missing"] == ["not-installed"]
    assert apt.held == {"bash", "postgresql"}

    released = run(apt, dict(p, holds=[]))
    assert released["changed"] and released["plan"]["unhold"] == ["postgresql"]
    assert released["diff"]["before"] == {
        "packages": {"postgresql": "15.8"},
        "holds": ["postgresql"],
    }
    assert released["diff"]["after"] == {"packages": {"postgresql": "15.9"}, "holds": []}
    assert apt.held == {"bash"}
    assert apt.installed["postgresql"] == "15.9"  # no longer held: patched in the same run


def test_a_transaction_removing_packages_or_touching_held_ones_is_refused(
    tmp_path: Path, paths: Path
) -> None:
    removing = host(depends={"openssl=3.0.22": ["-libfoo1"]})
    with pytest.raises(pu.PatchingError, match="remove libfoo1"):
        run(removing, params(tmp_path))
    dragging = host(depends={"openssl=3.0.22": ["postgresql"]})
    with pytest.raises(pu.PatchingError, match=r"held or excluded package.*postgresql"):
        run(dragging, params(tmp_path, holds=["postgresql"]))
    assert removing.calls == [] and dragging.calls == []


def test_a_failing_pre_hook_stops_the_run_before_any_package_changes(
    tmp_path: Path, paths: Path
) -> None:
    apt = host()
    apt.hook_rc["systemctl stop app"] = 1
    p = params(tmp_path)
    result = run(apt, p)
    assert result["failed"] and "pre hook 'systemctl stop app' failed" in result["msg"]
    assert apt.calls == [("hook", "systemctl stop app")]
    assert apt.installed == host().installed


def test_a_failing_post_hook_fails_the_task_but_the_upgrade_is_recorded(
    tmp_path: Path, paths: Path
) -> None:
    apt = host()
    apt.hook_rc["systemctl start app"] = 3
    p = params(tmp_path)
    result = run(apt, p)
    assert result["failed"] and "post hook" in result["msg"]
    assert record(p)["upgraded"]["openssl"] == ["3.0.20", "3.0.22"]


def test_lists_are_refreshed_when_stale_in_check_mode_too(tmp_path: Path, paths: Path) -> None:
    apt = host()
    assert run(apt, params(tmp_path), check=True)["cache_updated"]
    assert not run(apt, params(tmp_path), check=True)["cache_updated"]
    assert not run(host(), params(tmp_path, update_cache=False), check=True)["cache_updated"]


def test_main_through_ansible(tmp_path: Path, paths: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    apt = host()
    monkeypatch.setattr(upgrade, "AptBackend", lambda module, state_dir, **_kw: apt)
    monkeypatch.setattr(upgrade, "boot_id", lambda: "boot-1")
    args = {"scope": "security", "allowed": True, "state_dir": str(tmp_path / "state")}
    out = run_module(upgrade, args, check=True, diff=True)
    assert not out.get("failed")
    assert out["changed"] and out["diff"]["after"]["packages"]["openssl"] == "3.0.22"
    assert apt.calls == [] and not (tmp_path / "state").exists()

    apt.depends = {"openssl=3.0.22": ["-libfoo1"]}
    out = run_module(upgrade, args, check=True, diff=True)
    assert out["failed"]
    assert "would remove libfoo1" in out["msg"]


def test_a_failed_upgrade_still_runs_the_post_hooks(
    tmp_path: Path, paths: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apt = host()

    def broken(targets: dict[str, str]) -> str:
        raise pu.PatchingError("apt-get install failed (rc 100): E: dpkg was interrupted")

    monkeypatch.setattr(apt, "install", broken)
    p = params(tmp_path, holds=["postgresql"])
    with pytest.raises(pu.PatchingError, match="post hooks run: 'systemctl start app' rc 0"):
        run(apt, p)
    assert apt.calls[-2:] == [("hook", "systemctl stop app"), ("hook", "systemctl start app")]
    assert record(p) == {"holds": ["postgresql"]}  # holds remembered, no run recorded


def test_a_failing_pre_hook_still_records_the_holds(tmp_path: Path, paths: Path) -> None:
    apt = host()
    apt.hook_rc["systemctl stop app"] = 1
    p = params(tmp_path, holds=["postgresql"])
    assert run(apt, p)["failed"]
    assert record(p) == {"holds": ["postgresql"]} and "postgresql" in apt.held
    assert run(apt, dict(p, holds=[], pre_hooks=[]))["plan"]["unhold"] == ["postgresql"]
