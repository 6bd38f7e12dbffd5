"""The Windows paths of the policy roles, as far as this machine can prove them: no Windows
host and no PowerShell here. Every role's Windows task file passes ``ansible-playbook
--syntax-check`` (statically imported, so every task is parsed and every module and filter
resolved), and the Linux path of each role is unchanged: its Windows include is skipped on a
non-Windows host by ``os_family``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
WINDOWS_TASKS = sorted(ROOT.glob("roles/*/tasks/setup-Windows.yml"))


def test_every_windows_task_file_passes_syntax_check(tmp_path: Path) -> None:
    assert WINDOWS_TASKS, "no roles/*/tasks/setup-Windows.yml"
    plays = [
        {
            "name": f"Windows path of {path.parent.parent.name}",
            "hosts": "windows",
            "gather_facts": False,
            "tasks": [
                {
                    "name": f"Import the Windows tasks of {path.parent.parent.name}",
                    "ansible.builtin.import_role": {
                        "name": path.parent.parent.name,
                        "tasks_from": "setup-Windows",
                    },
                }
            ],
        }
        for path in WINDOWS_TASKS
    ]
    playbook = tmp_path / "windows.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  children:\n    windows:\n      hosts: {win: {}}\n")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
    }
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "--syntax-check", "-i", str(inventory), str(playbook)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", WINDOWS_TASKS, ids=lambda p: p.parent.parent.name)
def test_windows_include_is_guarded_by_os_family(path: Path) -> None:
    main = yaml.safe_load((path.parent / "main.yml").read_text())
    includes = [
        task
        for task in main
        if (task.get("ansible.builtin.include_tasks") or "")
        in ("setup-Windows.yml", "setup-{{ ansible_facts['os_family'] }}.yml")
    ]
    assert len(includes) == 1, f"{path.parent}/main.yml includes setup-Windows.yml once"
    if "os_family'] }}" not in includes[0]["ansible.builtin.include_tasks"]:  # by its name
        assert "== 'Windows'" in str(includes[0]["when"])
