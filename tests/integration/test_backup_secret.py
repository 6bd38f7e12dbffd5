"""The backup_agent policy through `mspctl apply` on a lab: a tampered repository is a failing
control with evidence, and the policy's vault secret leaks nowhere.

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
from lab_helpers import require_lab, test_lab_name

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


# Flip a byte every 512 of each data pack of a host's repository: every blob fails to decrypt.
TAMPER = r"""
import pathlib, sys
for pack in pathlib.Path(sys.argv[1], "data").rglob("*"):
    if pack.is_file():
        data = bytearray(pack.read_bytes())
        for i in range(32, len(data) - 64, 512):
            data[i] ^= 0xFF
        pack.chmod(0o600)
        pack.write_bytes(bytes(data))
        print(pack)
"""


def test_backup_policy_through_mspctl(
    cli: Callable[..., Result], project: Path, home: Path
) -> None:
    """Apply and check pass every backup control; a tampered repository makes the restore test
    a failing control with restic's evidence; the vault password leaks nowhere."""
    require_lab()
    from lab_helpers import Lab

    from mspctl.lab import LabState

    name = test_lab_name("bk")
    up = cli("lab", "up", "2", "--name", name, "--distro", LAB_DISTRO)
    assert up.exit_code == 0, up.output
    try:
        vault_file = project / "inventories" / name / "group_vars" / "all" / "vault.yml"
        assert vault_file.read_text().count("$ANSIBLE_VAULT;1.1;AES256") == 1
        password = vault_value(vault_file, home / "vault" / f"{name}.pass", "backup_agent_password")
        assert len(password) >= 32
        assert password not in vault_file.read_text()

        applied = cli("apply", name, "--policy", "backup_agent")
        assert applied.exit_code == 0, applied.output
        checked = cli("apply", name, "--policy", "backup_agent", "--check", "--diff")
        assert checked.exit_code == 0, checked.output  # converged: no drift

        # the policy did its job: on both servers, every backup control passed
        with sqlite3.connect(home / "mspctl.db") as db:
            rows = db.execute(
                "SELECT host, control_id, status FROM findings WHERE policy = 'backup_agent'"
            ).fetchall()
        controls = {
            "backup_agent.snapshot_age",
            "backup_agent.restore_test",
            "backup_agent.last_run",
            "backup_agent.timer",
        }
        hosts = [f"{name}-{i:02d}" for i in (1, 2)]
        assert {(host, control) for host, control, _ in rows} == {
            (host, control) for host in hosts for control in controls
        }, rows
        assert {status for *_, status in rows} == {"pass"}, rows

        # a tampered repository: the next restore test of host 2 fails, with the evidence
        state = LabState.load(name)
        assert state is not None
        lab = Lab(state)
        repo_host, client = lab.host(hosts[0]), lab.host(hosts[1])
        tampered = lab.ssh(
            repo_host, f"python3 - /srv/restic/{name}/{client.name} <<'PY'\n{TAMPER}PY"
        )
        assert tampered.stdout.strip(), "no data pack found to tamper with"
        lab.ssh(client, "rm /var/lib/mspctl/backup/restore-test.json")  # a test is due now
        failing = cli("apply", name, "--policy", "backup_agent")
        assert failing.exit_code == 0, failing.output  # a failing control is not a failed run
        reported = cli("report", name, "--format", "json")
        assert reported.exit_code == 0, reported.output
        report = json.loads(reported.stdout)
        [finding] = report["failing"]
        assert (finding["host"], finding["control_id"], finding["status"]) == (
            client.name,
            "backup_agent.restore_test",
            "fail",
        ), finding
        evidence = finding["evidence"]
        assert evidence["kind"] == "corrupt", evidence
        assert "ciphertext verification failed" in evidence["stderr"], evidence
        assert evidence["checksums_match"] is False and evidence["mismatches"], evidence
        assert evidence["snapshot"] and evidence["scratch_removed"] is True, evidence

        # the secret: in no output, no artifact, no byte of the store
        listed = cli("runs", "list", name, "--json")
        assert listed.exit_code == 0, listed.output
        runs = json.loads(listed.stdout)
        assert len(runs) == 3, runs
        shown = [cli("runs", "show", run["id"], "--json") for run in runs]
        for result in shown:
            assert result.exit_code == 0, result.output
        secret = password.encode()
        outputs = [up, applied, checked, failing, reported, listed, *shown]
        assert [r.output for r in outputs if password in r.output] == []
        assert (home / "runs").is_dir()
        assert files_holding(home / "runs", secret) == []
        stores = [p for p in home.iterdir() if p.name.startswith("mspctl.db")]
        assert stores, f"no run store in {home}"
        assert files_holding(home, secret) == []  # the store, its journal and everything else
    finally:
        down = cli("lab", "down", "--name", name)
    assert down.exit_code == 0, down.output
    assert not (project / "inventories" / name).exists()
