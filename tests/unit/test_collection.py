"""The repository is the Ansible collection mspctl.policy, found through ansible.cfg alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULES = sorted(
    p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__"
)


def _ansible(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    return subprocess.run(
        [str(BIN / tool), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_galaxy_names_the_collection_the_link_points_to() -> None:
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    link = ROOT / "collections" / "ansible_collections" / galaxy["namespace"] / galaxy["name"]
    assert link.is_symlink(), link
    assert link.resolve() == ROOT


def test_ansible_doc_renders_every_module_by_fqcn() -> None:
    names = [f"mspctl.policy.{m}" for m in MODULES]
    assert len(names) >= 9
    result = _ansible("ansible-doc", "--json", *names)
    assert result.returncode == 0, result.stderr
    docs = json.loads(result.stdout)
    assert sorted(docs) == sorted(names), result.stderr
    for name, doc in docs.items():
        assert doc["doc"]["short_description"], name
        assert doc["doc"]["module"] == name.rsplit(".", 1)[1], name


def test_filter_and_callback_load_by_fqcn() -> None:
    plugins = (("filter", "mspctl.policy.patch_window"), ("callback", "mspctl.policy.recap"))
    for kind, name in plugins:
        result = _ansible("ansible-doc", "-t", kind, "--json", name)
        assert result.returncode == 0, result.stderr
        assert name in json.loads(result.stdout), result.stdout


def test_a_client_folder_is_a_clean_inventory_for_ansible() -> None:
    """Technicians type ``ansible -i inventories/<client> ...``: client.yml and waivers.yml are
    not inventory sources, so Ansible warns about nothing."""
    result = _ansible("ansible-inventory", "-i", "inventories/demo", "--list")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr.upper(), result.stderr
    assert "demo-server" in json.loads(result.stdout)["_meta"]["hostvars"]
