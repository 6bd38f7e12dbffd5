"""The backup_agent policy through `mspctl apply` on a lab: its vault secret leaks nowhere.

The lab (`mspctl lab up`) writes the restic repository password ansible-vault-encrypted into the
lab client's ``group_vars/all/vault.yml`` and the vault key into ``$MSPCTL_HOME/vault/<lab>.pass``;
`mspctl apply` finds that key by itself. After an apply and a check run, the password must be in
no CLI output, no file of the runs' artifact directories and no byte of the run store.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from mspctl.lab.testing import require_lab, test_lab_name

LAB_DISTRO = os.environ.get("MSPCTL_LAB_DISTRO", "bookworm")

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def vault_value(vault_file: Path, key_file: Path, name: str) -> str:
    """A value of an inline-encrypted (`!vault |`) variable, decrypted with the lab's key."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    lines = vault_file.read_text().splitlines()
    start = lines.index(f"{name}: !vault |") + 1
    block = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        block.append(line.strip())
    vault = VaultLib([("default", VaultSecret(key_file.read_text().strip().encode()))])
    return vault.decrypt("\n".join(block)).decode()


def files_holding(root: Path, secret: bytes) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and secret in p.read_bytes())


def test_backup_password_is_never_recorded(
    cli: Callable[..., Result], project: Path, home: Path
) -> None:
    require_lab()
    name = test_lab_name("bk")
    up = cli("lab", "up", "2", "--name", name, "--distro", LAB_DISTRO)
    assert up.exit_code == 0, up.output
    try:
        vault_file = project / "inventories" / name / "group_vars" / "all" / "vault.yml"
        assert vault_file.read_text().count("$ANSIBLE_VAULT;1.1;AES256") == 1
        password = vault_value(vault_file, home / "vault" / f"{name}.pass",
                               "backup_agent_password")
        assert len(password) >= 32
        assert password not in vault_file.read_text()

        applied = cli("apply", name, "--policy", "backup_agent")
        assert applied.exit_code == 0, applied.output
        checked = cli("apply", name, "--policy", "backup_agent", "--check", "--diff")
        assert checked.exit_code == 0, checked.output  # converged: no drift
        listed = cli("runs", "list", name, "--json")
        assert listed.exit_code == 0, listed.output
        runs = json.loads(listed.stdout)
        assert len(runs) == 2, runs
        shown = [cli("runs", "show", run["id"], "--json") for run in runs]
        for result in shown:
            assert result.exit_code == 0, result.output

        secret = password.encode()
        outputs = [up, applied, checked, listed, *shown]
        assert [r.output for r in outputs if password in r.output] == []
        assert (home / "runs").is_dir()
        assert files_holding(home / "runs", secret) == []
        stores = [p for p in home.iterdir() if p.name.startswith("mspctl.db")]
        assert stores, f"no run store in {home}"
        assert files_holding(home, secret) == []  # the store, its journal and everything else

        # and the policy did its job: on both servers, every backup control passed
        with sqlite3.connect(home / "mspctl.db") as db:
            rows = db.execute("SELECT host, control_id, status FROM findings "
                              "WHERE policy = 'backup_agent'").fetchall()
        controls = {"backup_agent.snapshot_age", "backup_agent.restore_test",
                    "backup_agent.last_run", "backup_agent.timer"}
        assert {(host, control) for host, control, _ in rows} == {
            (f"{name}-{i:02d}", control) for i in (1, 2) for control in controls}, rows
        assert {status for *_, status in rows} == {"pass"}, rows
    finally:
        down = cli("lab", "down", "--name", name)
    assert down.exit_code == 0, down.output
    assert not (project / "inventories" / name).exists()
