"""``mspctl.policy.apt_packages`` for real: ansible-playbook on this machine (connection local,
a Debian controller) asks dpkg about installed packages and runs ``ansible.builtin.apt`` only
when one is missing or not a plain name. Nothing is installed: the missing package does not
exist, and the lists are not refreshed (``update_cache: false``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.mspctl.policy.plugins.action.apt_packages import installed_of
from local_playbook import run_local_playbook

ROOT = Path(__file__).resolve().parents[4]
NOWHERE = "mspctl-no-such-package"
pytestmark = pytest.mark.skipif(
    shutil.which("dpkg-query") is None,
    reason="runs ansible-playbook against this machine's dpkg database: a Debian controller",
)


@pytest.mark.parametrize(
    ("status", "installed"),
    [
        ("ii ", True),  # wanted, installed
        ("hi ", True),  # held, installed
        ("iiR", False),  # installed but in need of a reinstall
        ("rc ", False),  # removed, its configuration left
        ("iU ", False),  # unpacked, not configured
        ("iF ", False),  # half-configured
        ("un ", False),  # known, never installed
        ("", False),
    ],
)
def test_what_counts_as_installed(status: str, installed: bool) -> None:
    assert ("pkg" in installed_of(f"pkg\t{status}\n")) is installed


def run(tmp_path: Path, args: dict[str, Any], *extra: str) -> tuple[int, dict[str, Any], str]:
    play = [
        {
            "name": "apt_packages",
            "hosts": "all",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Packages",
                    "mspctl.policy.apt_packages": args,
                    "register": "done",
                    "ignore_errors": True,
                },
                {
                    "name": "Keep the result",
                    "ansible.builtin.copy": {
                        "content": "{{ done | to_json }}",
                        "dest": f"{tmp_path}/result.json",
                        "mode": "0600",
                    },
                    "check_mode": False,
                },
            ],
        }
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    done = run_local_playbook(
        playbook,
        tmp_path / ".ansible",
        *extra,
        env={"ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections")},
    )
    output = done.stdout + done.stderr
    result_file = tmp_path / "result.json"
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    return done.returncode, result, output


@pytest.mark.slow
def test_installed_packages_are_read_from_dpkg_without_apt(tmp_path: Path) -> None:
    rc, result, output = run(tmp_path, {"name": ["dpkg", "coreutils"], "update_cache": True})
    assert rc == 0, output
    assert result["changed"] is False
    assert result["missing"] == []
    assert result["packages"] == ["dpkg", "coreutils"]
    assert "cache_updated" not in result  # ansible.builtin.apt did not run (nor refresh lists)


@pytest.mark.slow
def test_a_name_with_an_architecture_goes_to_apt(tmp_path: Path) -> None:
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    rc, result, output = run(tmp_path, {"name": [f"coreutils:{arch}"]})
    assert rc == 0, output
    assert result["changed"] is False, result
    assert result["missing"] == [f"coreutils:{arch}"]
    assert "cache_updated" in result  # apt's own answer


@pytest.mark.slow
def test_a_package_apt_does_not_know_is_would_install_in_check_mode_only(tmp_path: Path) -> None:
    rc, result, output = run(tmp_path, {"name": ["dpkg", NOWHERE]}, "--check")
    assert rc == 0, output
    assert result["changed"] is True and not result.get("failed"), result
    assert result["missing"] == [NOWHERE]
    assert f"would install {NOWHERE}" in result["msg"]

    _rc, result, output = run(tmp_path, {"name": ["dpkg", NOWHERE]})
    assert result["failed"] is True, output
    assert f"No package matching '{NOWHERE}'" in result["msg"]
    assert subprocess.run(["dpkg-query", "-W", NOWHERE], capture_output=True).returncode != 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({}, "missing required arguments: name"),
        ({"name": ["dpkg"], "state": "absent"}, "state"),
        ({"name": ["dpkg"], "cache_valid_time": "a day"}, "cache_valid_time"),
    ],
)
def test_bad_arguments_fail_naming_them(tmp_path: Path, args: dict[str, Any], words: str) -> None:
    _rc, result, output = run(tmp_path, args)
    assert result["failed"] is True, output
    assert words in result["msg"], result
