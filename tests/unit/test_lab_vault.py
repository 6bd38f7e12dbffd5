"""`mspctl lab up` writes the lab's secrets vault-encrypted, under a key kept in $MSPCTL_HOME."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from mspctl.lab import inventory
from mspctl.lab.state import LabHost, LabState, host_ip, host_name


def make_state() -> LabState:
    state = LabState(name="lab", distro="bookworm", slot=7, image="/img", created="now")
    state.hosts = [
        LabHost(
            name=host_name("lab", 1),
            index=1,
            ip=host_ip(7, 1),
            netns="ns1",
            veth="v1",
            groups=inventory.groups_for(1),
        )
    ]
    return state


def decrypt(vault_file: Path, key_file: Path) -> dict[str, str]:
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([("default", VaultSecret(key_file.read_text().strip().encode()))])

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor(
        "!vault", lambda loader, node: vault.decrypt(loader.construct_scalar(node)).decode()
    )
    data: dict[str, str] = yaml.load(vault_file.read_text(), Loader=Loader)
    return data


def test_the_secrets_are_encrypted_and_removed_with_the_lab(tmp_path: Path) -> None:
    directory = inventory.write(make_state(), tmp_path / "inventories")
    key = tmp_path / "home" / "vault" / "lab.pass"
    vault_file = inventory.write_vault(directory, key)
    assert vault_file == directory / "group_vars" / "all" / "vault.yml"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    text = vault_file.read_text()
    assert text.startswith(inventory.HEADER)
    secrets = decrypt(vault_file, key)
    assert set(secrets) == {"backup_agent_password"}
    assert len(secrets["backup_agent_password"]) >= 32
    assert secrets["backup_agent_password"] not in text
    # a new `up` keeps the key and makes a new password
    first_key = key.read_text()
    inventory.write_vault(directory, key)
    assert key.read_text() == first_key
    assert decrypt(vault_file, key) != secrets
    inventory.remove(directory)
    assert not directory.exists()
