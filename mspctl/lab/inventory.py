"""The ``lab`` client that ``mspctl lab up`` writes: an Ansible inventory and a contract.

``inventories/<lab>/hosts.yml`` is a standard YAML inventory of the lab hosts and
``inventories/<lab>/client.yml`` the client's contract, so ``mspctl apply lab --tier gold``
works like for any client. ``down`` removes both (only files that carry the header below).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shlex
from pathlib import Path
from typing import Any

from mspctl.lab.state import LabState

HEADER = "# Written by `mspctl lab up`"
# Policy settings the lab needs (one file per policy, e.g. monitoring.yml): copied into the lab
# client's group_vars/all/, so `mspctl apply <lab>` works without hand-written inventory files.
GROUP_VARS_DIR = Path(__file__).resolve().parent / "group_vars"
CONTRACT_TIER = "gold"


def groups_for(index: int) -> list[str]:
    """Groups of lab host ``index`` (1-based). Change the lab's shape here and only here.

    Host 1 is a server and also the MSP-side host: it runs the MSP monitoring (Prometheus),
    holds the restic repositories over SFTP and listens as a test printer. Host 2 is a second
    server; hosts 3 and up are workstations.
    """
    if index == 1:
        return ["servers", "msp_monitoring", "backup_repository"]
    if index == 2:
        return ["servers"]
    return ["workstations"]


def host_vars(state: LabState, ip: str) -> dict[str, Any]:
    ssh_args = shlex.join(
        [
            "-o",
            f"UserKnownHostsFile={state.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
        ]
    )
    return {
        "ansible_host": ip,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(state.ssh_key),
        # The lab's host keys are in the lab's own known_hosts; checking stays on. Mitogen
        # (mspctl's default strategy) honours these arguments as the ssh plugin does.
        "ansible_ssh_common_args": ssh_args,
        "ansible_python_interpreter": "/usr/bin/python3",
    }


def hosts_document(state: LabState) -> dict[str, Any]:
    children: dict[str, dict[str, Any]] = {}
    for host in state.hosts:
        for group in host.groups:
            children.setdefault(group, {"hosts": {}})["hosts"][host.name] = {}
    return {
        "all": {
            "vars": {
                "mspctl_lab_name": state.name,
                "mspctl_lab_distro": state.distro,
            },
            "hosts": {host.name: host_vars(state, host.ip) for host in state.hosts},
            "children": children,
        }
    }


def client_document(today: dt.date | None = None) -> str:
    start = (today or dt.date.today()).isoformat()
    return (
        f"{HEADER}: a rehearsal client made of local lab hosts.\n"
        "name: Lab rehearsal client\n"
        "timezone: Europe/Paris\n"
        "contract:\n"
        f"  tier: {CONTRACT_TIER}\n"
        f"  start: {start}\n"
        "contacts:\n"
        "  - name: Lab technician\n"
        "    role: technical\n"
        "    email: lab@example.invalid\n"
        "sites:\n"
        "  - name: Lab\n"
        "    address: this machine\n"
    )


def write(state: LabState, inventories_dir: Path) -> Path:
    """Write ``<inventories_dir>/<lab>/{hosts,client}.yml``; returns that directory."""
    import yaml

    directory = inventories_dir / state.name
    directory.mkdir(parents=True, exist_ok=True)
    header = (
        f"{HEADER} (lab {state.name!r}, {state.distro}, {state.subnet}); "
        "`mspctl lab down` removes it.\n"
    )
    body = yaml.safe_dump(
        hosts_document(state), sort_keys=False, default_flow_style=False, width=1000
    )
    _write_atomic(directory / "hosts.yml", header + body)
    _write_atomic(directory / "client.yml", client_document())
    sources = sorted(GROUP_VARS_DIR.glob("*.yml")) if GROUP_VARS_DIR.is_dir() else []
    if sources:
        (directory / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    for source in sources:
        note = f"{HEADER} from mspctl/lab/group_vars/{source.name}; `mspctl lab down` removes it.\n"
        _write_atomic(directory / "group_vars" / "all" / source.name, note + source.read_text())
    return directory


def write_vault(directory: Path, password_file: Path) -> Path:
    """The lab's secrets: ``group_vars/all/vault.yml`` with values encrypted by ansible-vault
    (a new random restic password per ``up``), under the vault password in ``password_file``
    (made once, mode 0600; ``mspctl apply <lab>`` finds it in ``$MSPCTL_HOME/vault/``)."""
    import secrets

    from ansible.parsing.vault import VaultLib, VaultSecret

    password_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not password_file.is_file() or not password_file.read_text().strip():
        tmp = password_file.with_name(f".{password_file.name}.tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(secrets.token_urlsafe(32) + "\n")
        tmp.replace(password_file)
    vault = VaultLib([("default", VaultSecret(password_file.read_text().strip().encode()))])
    lines = [
        f"{HEADER}: the lab's secrets, encrypted with {password_file}; `mspctl lab down` "
        "removes it."
    ]
    for name in ("backup_agent_password",):
        cipher = vault.encrypt(secrets.token_urlsafe(32)).decode().strip()
        lines += [f"{name}: !vault |", *(f"  {line}" for line in cipher.splitlines())]
    target = directory / "group_vars" / "all" / "vault.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(target, "\n".join(lines) + "\n")
    return target


def remove(directory: Path) -> None:
    """Remove the files ``write`` made (never a file someone else wrote), then the dirs."""
    group_vars = directory / "group_vars" / "all"
    written = sorted(group_vars.glob("*.yml")) if group_vars.is_dir() else []
    for path in [directory / "hosts.yml", directory / "client.yml", *written]:
        try:
            first = path.read_text().splitlines()[0]
        except (OSError, IndexError):
            continue
        if first.startswith(HEADER):
            path.unlink()
    for folder in (group_vars, group_vars.parent, directory):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
