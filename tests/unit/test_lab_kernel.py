"""mspctl/lab/kernel.py: the machine's kernel settings raised for the lab and given back, on a
stand-in /proc/sys (a directory of files), so no root is needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from mspctl.lab import kernel


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    proc = tmp_path / "proc-sys"
    for key, value in (
        ("net/ipv4/ip_forward", "0"),
        ("fs/inotify/max_user_instances", "128"),
        ("fs/inotify/max_user_watches", "1048576"),  # already above the floor: kept
    ):
        (proc / key).parent.mkdir(parents=True, exist_ok=True)
        (proc / key).write_text(value + "\n")
    labs: dict[str, list[str]] = {"recorded": [], "bridges": []}
    monkeypatch.setattr(kernel, "PROC_SYS", proc)
    monkeypatch.setattr(kernel, "run_root", lambda: tmp_path / "run")
    monkeypatch.setattr(kernel, "recorded_labs", lambda: labs["recorded"])
    monkeypatch.setattr(kernel, "lab_bridges", lambda: dict.fromkeys(labs["bridges"], "x"))
    return labs


def read(key: str) -> str:
    return (kernel.PROC_SYS / key).read_text().strip()


def test_up_raises_what_is_short_and_keeps_what_is_more(machine: dict[str, list[str]]) -> None:
    kernel.apply()
    assert read("net/ipv4/ip_forward") == "1"
    assert read("fs/inotify/max_user_instances") == "1024"
    assert read("fs/inotify/max_user_watches") == "1048576"
    kernel.apply()  # a second lab: nothing saved twice, nothing lowered
    assert read("fs/inotify/max_user_instances") == "1024"


def test_the_machine_gets_its_values_back_when_the_last_lab_goes(
    machine: dict[str, list[str]],
) -> None:
    kernel.apply()
    machine["recorded"] = ["other-lab"]
    kernel.restore_if_idle()  # a lab remains: nothing given back
    assert read("fs/inotify/max_user_instances") == "1024"
    machine["recorded"] = []
    machine["bridges"] = ["mspl7"]
    kernel.restore_if_idle()  # its bridge remains (a killed run): still nothing
    assert read("net/ipv4/ip_forward") == "1"
    machine["bridges"] = []
    kernel.restore_if_idle()
    assert read("net/ipv4/ip_forward") == "0"
    assert read("fs/inotify/max_user_instances") == "128"
    assert read("fs/inotify/max_user_watches") == "1048576"
    kernel.restore_if_idle()  # nothing saved any more: a no-op
    assert read("fs/inotify/max_user_instances") == "128"


def test_a_value_the_machine_raised_itself_meanwhile_is_not_saved_over(
    machine: dict[str, list[str]],
) -> None:
    (kernel.PROC_SYS / "fs/inotify/max_user_instances").write_text("4096\n")
    kernel.apply()
    assert read("fs/inotify/max_user_instances") == "4096"
    kernel.restore_if_idle()
    assert read("fs/inotify/max_user_instances") == "4096"
