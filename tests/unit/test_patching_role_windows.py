"""The patching role's window selection (roles/patching/tasks/windows.yml), run by Ansible.

Which window a host uses (the first of servers, workstations, nas that has one), when it may
patch and reboot (its reboot window for servers and NAS, its patch window for the others),
blackouts and forcing. The window engine itself is tested in test_patch_window.py; this runs
the role's own Jinja through ansible-playbook on local-connection hosts, so no lab is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

HOSTS = {
    "srv": ["servers"],
    "ws": ["workstations"],
    "both": ["workstations", "servers"],
    "nas1": ["nas"],
    "printer": ["printers"],
}
BASE_VARS = {
    "mspctl_timezone": "Europe/Paris",
    "patching_windows": {
        "servers": {"days": ["sat"], "start": "22:00", "duration": "4h"},
        "workstations": {"days": ["2nd tue"], "start": "19:00", "duration": "3h"},
    },
    "patching_reboot_window": {"days": ["sun"], "start": "00:00", "duration": "2h"},
}
CASES: dict[str, dict[str, Any]] = {
    "saturday night": {"patching_now": "2026-12-05T23:00:00+01:00"},
    "sunday deep night": {"patching_now": "2026-12-06T00:30:00+01:00"},
    "patch tuesday evening": {"patching_now": "2026-12-08T20:00:00+01:00"},
    "blacked out saturday": {
        "patching_now": "2026-12-05T23:00:00+01:00",
        "patching_blackout_dates": ["2026-12-05"],
    },
    "forced on a tuesday": {"patching_now": "2026-12-08T20:00:00+01:00", "patching_force": True},
    "force given as text": {
        "patching_now": "2026-12-08T20:00:00+01:00",
        "patching_force": "false",
    },  # -e patching_force=false
    "no reboot window": {"patching_now": "2026-12-06T00:30:00+01:00", "patching_reboot_window": {}},
}
FACTS = (
    "__patching_host_class",
    "__patching_allowed",
    "__patching_reason",
    "__patching_reboot_allowed",
)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, Any]]]:
    """``{case: {host: {fact: value}}}`` from one ansible-playbook run, one play per case."""
    work = tmp_path_factory.mktemp("patching-windows")
    inventory: dict[str, Any] = {"all": {"hosts": {}, "children": {}}}
    for name, groups in HOSTS.items():
        inventory["all"]["hosts"][name] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
        }
        for group in groups:
            inventory["all"]["children"].setdefault(group, {"hosts": {}})["hosts"][name] = {}
    (work / "hosts.yml").write_text(yaml.safe_dump(inventory))
    plays = [
        {
            "name": case,
            "hosts": "all",
            "gather_facts": False,
            "vars": {**BASE_VARS, **overrides},
            "tasks": [
                {
                    "name": "Evaluate",
                    "ansible.builtin.include_role": {"name": "patching", "tasks_from": "windows"},
                },
                {
                    "name": "Show",
                    "ansible.builtin.debug": {"msg": {fact: f"{{{{ {fact} }}}}" for fact in FACTS}},
                },
            ],
        }
        for case, overrides in CASES.items()
    ]
    (work / "play.yml").write_text(yaml.safe_dump(plays, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_CALLBACKS_ENABLED"}
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json"
    )
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(work / "hosts.yml"), str(work / "play.yml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    data = json.loads(proc.stdout)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for play in data["plays"]:
        shown = play["tasks"][-1]["hosts"]
        out[play["play"]["name"]] = {host: shown[host]["msg"] for host in shown}
    return out


def row(results: dict[str, Any], case: str, host: str) -> tuple[Any, ...]:
    facts = results[case][host]
    return tuple(facts[fact] for fact in FACTS)


NO_WINDOW = "no window for this host class"


@pytest.mark.parametrize(
    ("case", "host", "expected"),
    [
        # class, may patch, reason, may reboot
        ("saturday night", "srv", ("servers", True, "inside window", False)),
        ("saturday night", "ws", ("workstations", False, "outside window", False)),
        ("saturday night", "both", ("servers", True, "inside window", False)),  # servers first
        ("saturday night", "nas1", ("", False, NO_WINDOW, False)),
        ("saturday night", "printer", ("", False, NO_WINDOW, False)),
        ("sunday deep night", "srv", ("servers", True, "inside window", True)),
        ("sunday deep night", "ws", ("workstations", False, "outside window", False)),
        # workstations reboot in their own patch window
        ("patch tuesday evening", "ws", ("workstations", True, "inside window", True)),
        ("patch tuesday evening", "srv", ("servers", False, "outside window", False)),
        ("blacked out saturday", "srv", ("servers", False, "blackout", False)),
        ("forced on a tuesday", "srv", ("servers", True, "outside window", True)),
        ("forced on a tuesday", "nas1", ("", True, NO_WINDOW, True)),
        ("force given as text", "srv", ("servers", False, "outside window", False)),
        # servers without a reboot window reboot only when forced
        ("no reboot window", "srv", ("servers", True, "inside window", False)),
    ],
)
def test_window_selection(
    results: dict[str, Any], case: str, host: str, expected: tuple[Any, ...]
) -> None:
    assert row(results, case, host) == expected
