"""Start-up cost of the everyday read commands: which modules a command's process loads.

Each command runs in a fresh interpreter (the mspctl group imported, then invoked as the
console script does) and the test reads that process's ``sys.modules`` afterwards. A module
imported eagerly (at the top of the CLI group, of a command module or of a domain module a
read command uses) shows up here and fails the test; timing is left to the benchmarks
(``scripts/bench_store.py --startup``), which a loaded machine would make flaky.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mspctl.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]

# what no read command needs: the run engine, migrations, the monthly documents' stack
NEVER = (
    "ansible_runner",
    "mitogen",
    "alembic",
    "babel",
    "pygal",
    "weasyprint",
    "markdown_it",
    "psycopg",
    "requests",
    "pexpect",
)
# Ansible's run machinery (reading an inventory loads ansible.playbook for its variables)
ANSIBLE_ENGINE = ("ansible.executor.task_queue_manager", "ansible.plugins.strategy", "ansible.cli")

# command -> (modules it must load, proving it did its work; modules it must not load)
CASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "--help": ((), ("ansible", "sqlalchemy", "pydantic", "yaml", "rich", "jinja2")),
    "tiers list": (
        ("pydantic", "rich.table"),
        ("sqlalchemy", "jinja2", "ansible.inventory", "ansible.playbook", *ANSIBLE_ENGINE),
    ),
    "tiers show gold": (("pydantic",), ("sqlalchemy", "jinja2", "ansible.inventory")),
    "tiers list --json": (("pydantic",), ("sqlalchemy", "rich", "ansible.inventory")),
    "clients list": (("ansible.inventory",), ("sqlalchemy", *ANSIBLE_ENGINE)),
    "clients show client-0001": (("ansible.inventory",), ("sqlalchemy", *ANSIBLE_ENGINE)),
    # a SQLite store at the schema head is read with sqlite3: SQLAlchemy is for writes
    "runs list": (("sqlite3", "rich.table"), ("sqlalchemy", "ansible", "pydantic", "yaml")),
    "runs list --json": (("sqlite3",), ("sqlalchemy", "ansible", "pydantic", "yaml", "rich")),
    "runs list client-0001 -n 2": (("sqlite3",), ("sqlalchemy", "ansible", "pydantic")),
    "diff --all --json": (("sqlite3",), ("sqlalchemy", "ansible", "pydantic", "yaml", "rich")),
    # the client's inventory is not read (its waivers name no host class)
    "report client-0001 --format json": (
        ("sqlite3", "pydantic", "yaml"),
        ("sqlalchemy", "rich", "ansible.inventory", "ansible.vars", *ANSIBLE_ENGINE),
    ),
}

# every command's own --help: the command module and what it imports at its top
HELP = ("ansible", "sqlalchemy", "pydantic", "yaml", "rich", "jinja2")
CASES |= {f"{name} --help": ((), HELP) for name in COMMANDS}

CHILD = """
import json, os, sys
from mspctl.cli import mspctl
result, args = sys.argv[1], sys.argv[2:]
with open(os.devnull, "w") as sink:
    sys.stdout = sink
    code = mspctl.main(args=args, prog_name="mspctl", standalone_mode=False)
    sys.stdout = sys.__stdout__
with open(result, "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small benchmark project and run store: 2 clients x 2 hosts x 10 controls x 3 runs."""
    base = tmp_path_factory.mktemp("startup")
    project, home = base / "project", base / "home"
    project.mkdir()
    home.mkdir()
    spec = importlib.util.spec_from_file_location("bench_store", ROOT / "scripts/bench_store.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.build(project, home, clients=2, hosts=2, controls=10, runs=3, flip=0.2)
    return project, home


def loaded(project: Path, home: Path, command: str, tmp_path: Path) -> set[str]:
    result = tmp_path / "modules.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),  # this tree's mspctl, whatever the venv's editable install
        "MSPCTL_PROJECT_DIR": str(project),
        "MSPCTL_HOME": str(home),
        "MSPCTL_DB_URL": "",
        "COLUMNS": "200",
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(result), *command.split()],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(result.read_text())
    assert data["code"] == 0, proc.stderr
    return set(data["modules"])


def present(modules: set[str], name: str) -> list[str]:
    return sorted(m for m in modules if m == name or m.startswith(name + "."))


@pytest.mark.parametrize("command", list(CASES))
def test_read_command_loads_no_heavy_module(
    store: tuple[Path, Path], command: str, tmp_path: Path
) -> None:
    modules = loaded(*store, command, tmp_path)
    needed, forbidden = CASES[command]
    for name in needed:  # the command did its work (an early failure would import nothing)
        assert present(modules, name), f"{command}: {name} not loaded"
    for name in (*NEVER, *forbidden):
        found = present(modules, name)
        assert not found, f"`mspctl {command}` imports {name}: {found[:5]}"


def test_the_check_sees_an_eager_import(store: tuple[Path, Path], tmp_path: Path) -> None:
    """The harness itself: a module imported by the CLI group shows up in the child."""
    _project, home = store
    plugin = tmp_path / "sitecustomize.py"
    plugin.write_text("import mspctl.cli, pygal  # an eager import\n")
    env_path = f"{tmp_path}{os.pathsep}{ROOT}"
    result = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", CHILD, str(result), "--help"],
        env={**os.environ, "PYTHONPATH": env_path, "MSPCTL_HOME": str(home)},
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert present(set(json.loads(result.read_text())["modules"]), "pygal")


def test_an_edited_role_spec_is_read_again(tmp_path: Path) -> None:
    """Role argument specs are parsed once per process, but an edit (even one keeping the
    file's size and, on a coarse clock, its mtime) is seen: the cache is checked by content."""
    from mspctl.policies import load_argument_spec

    spec = tmp_path / "meta" / "argument_specs.yml"
    spec.parent.mkdir()
    body = "argument_specs:\n  main:\n    options:\n      {}: {{type: str}}\n"
    spec.write_text(body.format("role_aa"))
    assert list(load_argument_spec(tmp_path) or {}) == ["role_aa"]
    assert load_argument_spec(tmp_path) == {"role_aa": {"type": "str"}}
    spec.write_text(body.format("role_bb"))
    assert list(load_argument_spec(tmp_path) or {}) == ["role_bb"]


def test_a_passed_tier_check_is_remembered_by_content(tmp_path: Path) -> None:
    """`tiers list` on this tree's project checks every policy block against its role's
    argument spec with Ansible's validator once; the next process finds the passed checks in
    the cache (keyed by the content of every input) and does not import the validator."""
    home = tmp_path / "home"
    validator = "ansible.module_utils.common.arg_spec"
    first = loaded(ROOT, home, "tiers list", tmp_path)
    assert present(first, validator), "the first run checks the role parameters"
    assert (home / "cache" / "tier-checks.json").is_file()
    again = loaded(ROOT, home, "tiers list", tmp_path)
    assert not present(again, validator)
    assert present(again, "pydantic")  # the tiers are still read and validated


def test_an_edited_role_spec_is_checked_again(tmp_path: Path) -> None:
    """A remembered check never hides a change: editing a role's argument spec (here so that
    gold's backup schedule no longer fits it) is seen by the next catalogue."""
    import shutil

    from mspctl.catalogue import Catalogue
    from mspctl.errors import BadInput

    project = tmp_path / "project"
    shutil.copytree(ROOT / "tiers", project / "tiers")
    shutil.copytree(ROOT / "roles", project / "roles", ignore=shutil.ignore_patterns("files"))
    shutil.copytree(ROOT / "plugins", project / "plugins")
    cache = tmp_path / "cache"
    assert Catalogue.load(project / "tiers", cache_dir=cache).get("gold").name == "gold"
    passed = (cache / "tier-checks.json").read_text()
    assert Catalogue.load(project / "tiers", cache_dir=cache).get("gold").name == "gold"
    assert (cache / "tier-checks.json").read_text() == passed  # nothing new to remember

    spec = project / "roles" / "backup_agent" / "meta" / "argument_specs.yml"
    text = spec.read_text()
    assert "      backup_agent_schedule:\n        type: str" in text
    spec.write_text(
        text.replace(
            "      backup_agent_schedule:\n        type: str",
            "      backup_agent_schedule:\n        type: int",
        )
    )
    with pytest.raises(BadInput) as caught:
        Catalogue.load(project / "tiers", cache_dir=cache).get("gold")
    assert caught.value.key == "policies.backup_agent", caught.value
    assert str(caught.value.file) == "tiers/gold.yml"
