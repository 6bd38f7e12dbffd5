"""``mspctl.policy.file_set`` for real: ansible-playbook on this machine (connection local)
writes folders and files into a scratch folder, through the action plugin (files read, templates
rendered on the controller) and the module (one run on the host).

The templates render byte for byte as ``ansible.builtin.template`` renders them (both write in
the same play); a second run changes nothing; check mode reports drift (content and mode, in
the diff) and writes nothing; bad entries fail naming the file.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from local_playbook import run_local_playbook

ROOT = Path(__file__).resolve().parents[4]
TEMPLATE = """\
# {{ ansible_managed | comment | trim }}
[Service]
{% for key, value in settings.items() %}
{{ key }}={{ value }}
{% endfor %}
Host={{ inventory_hostname }}
"""


def write_project(
    folder: Path, files: list[dict[str, Any]], directories: list[dict[str, Any]]
) -> Path:
    (folder / "templates").mkdir(parents=True, exist_ok=True)
    (folder / "files").mkdir(exist_ok=True)
    (folder / "templates" / "unit.j2").write_text(TEMPLATE)
    (folder / "files" / "program.py").write_text("print('hello')\n")
    out = folder / "out"
    play = [
        {
            "name": "file_set",
            "hosts": "all",
            "gather_facts": False,
            "vars": {"settings": {"Type": "oneshot", "Nice": 5}, "out": str(out)},
            "tasks": [
                {
                    "name": "Write the set",
                    "mspctl.policy.file_set": {"directories": directories, "files": files},
                    "register": "written",
                },
                {
                    "name": "Keep the result",
                    "ansible.builtin.copy": {
                        "content": "{{ written | to_json }}",
                        "dest": f"{folder}/result.json",
                        "mode": "0600",
                    },
                    "check_mode": False,
                    "diff": False,
                },
            ],
        }
    ]
    playbook = folder / "play.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    return playbook


def run(folder: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = run_local_playbook(
        folder / "play.yml",
        folder / ".ansible",
        *extra,
        env={
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
            "ANSIBLE_STDOUT_CALLBACK": "default",
        },
    )
    result_file = folder / "result.json"
    result = (
        json.loads(result_file.read_text()) if result_file.exists() and done.returncode == 0 else {}
    )
    return done, result


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    out = "{{ out }}"
    write_project(
        tmp_path,
        directories=[{"path": f"{out}/lib/sub", "mode": "0750"}],
        files=[
            {"src": "program.py", "dest": f"{out}/lib/sub/program.py", "mode": "0755"},
            {"template": "unit.j2", "dest": f"{out}/unit.service", "mode": "0644"},
            {"content": "a note\n", "dest": f"{out}/note", "mode": "0600"},
        ],
    )
    (tmp_path / "out").mkdir()
    # the same template through ansible.builtin.template, beside it, for the byte comparison
    play = yaml.safe_load((tmp_path / "play.yml").read_text())
    play[0]["tasks"].insert(
        0,
        {
            "name": "Template",
            "ansible.builtin.template": {
                "src": "unit.j2",
                "dest": f"{out}/builtin.service",
                "mode": "0644",
            },
        },
    )
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    return tmp_path


@pytest.mark.slow
def test_writes_then_changes_nothing(project: Path) -> None:
    out = project / "out"
    done, result = run(project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert result["changed"] is True
    assert sorted(result["changed_paths"]) == sorted(
        [f"{out}/lib/sub", f"{out}/lib/sub/program.py", f"{out}/unit.service", f"{out}/note"]
    )
    assert (out / "unit.service").read_bytes() == (out / "builtin.service").read_bytes()
    assert "Host=localhost\n" in (out / "unit.service").read_text()
    assert (out / "lib/sub/program.py").read_text() == "print('hello')\n"
    assert (out / "note").read_text() == "a note\n"
    assert [
        mode(out / "lib"),  # a parent made for lib/sub: the entry's mode, as builtin file does
        mode(out / "lib/sub"),
        mode(out / "lib/sub/program.py"),
        mode(out / "note"),
    ] == [
        "0o750",
        "0o750",
        "0o755",
        "0o600",
    ]
    # the files' content is not repeated in the result (the module's invocation is left out)
    assert "invocation" not in result and "hello" not in json.dumps(result)

    again, result = run(project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert result["changed"] is False and result["changed_paths"] == []
    assert [p["changed"] for p in result["paths"]] == [False] * 4


@pytest.mark.slow
def test_check_mode_reports_drift_and_writes_nothing(project: Path) -> None:
    out = project / "out"
    assert run(project)[0].returncode == 0
    (out / "unit.service").write_text("edited by hand\n")
    (out / "note").write_text("another note\n")
    os.chmod(out / "lib/sub/program.py", 0o644)
    done, result = run(project, "--check", "--diff")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(result["changed_paths"]) == sorted(
        [f"{out}/lib/sub/program.py", f"{out}/unit.service", f"{out}/note"]
    )
    # nothing written
    assert (out / "unit.service").read_text() == "edited by hand\n"
    assert mode(out / "lib/sub/program.py") == "0o644"
    # the diff shows the template's change, the note's and the mode
    assert "-edited by hand" in done.stdout and "+Type=oneshot" in done.stdout
    assert "-another note" in done.stdout and "+a note" in done.stdout
    assert re.search(r"^-.*mode.*0644", done.stdout, re.M), done.stdout
    assert re.search(r"^\+.*mode.*0755", done.stdout, re.M), done.stdout

    fixed, result = run(project)
    assert result["changed_paths"] and fixed.returncode == 0
    assert (out / "note").read_text() == "a note\n"
    assert mode(out / "lib/sub/program.py") == "0o755"


@pytest.mark.slow
def test_an_entry_with_two_sources_fails_naming_it(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        directories=[],
        files=[{"src": "program.py", "content": "x", "dest": "{{ out }}/bad"}],
    )
    done, _ = run(tmp_path)
    assert done.returncode == 2
    assert (
        "files entry " + str(tmp_path / "out/bad") + " needs exactly one of src, template, content"
        in done.stdout
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_missing_folder_fails_without_writing(tmp_path: Path) -> None:
    write_project(
        tmp_path, directories=[], files=[{"content": "x\n", "dest": "{{ out }}/none/file"}]
    )
    done, _ = run(tmp_path)
    assert done.returncode == 2
    assert "the folder of " + str(tmp_path / "out/none/file") + " does not exist" in done.stdout


@pytest.mark.slow
def test_parents_it_makes_get_the_owner_existing_ones_keep_theirs(tmp_path: Path) -> None:
    """A repository folder /srv/restic/<lab>/<host> for the sftp user: /srv/restic/<lab>, made
    on the way, must be the user's too, or the user cannot make a sibling repository there."""
    (tmp_path / "out").mkdir(mode=0o755)
    folder = {"path": "{{ out }}/lab/host", "owner": "nobody", "group": "nogroup", "mode": "0700"}
    write_project(tmp_path, directories=[folder], files=[])
    done, result = run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    nobody = pwd.getpwnam("nobody").pw_uid
    out = tmp_path / "out"
    assert [(p.stat().st_uid, mode(p)) for p in (out / "lab", out / "lab/host")] == [
        (nobody, "0o700"),
        (nobody, "0o700"),
    ]
    assert (out.stat().st_uid, mode(out)) == (os.getuid(), "0o755")  # it existed: kept
    assert result["changed_paths"] == [str(out / "lab/host")]
