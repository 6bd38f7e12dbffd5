"""Names, places and the recorded state of a lab.

A lab is identified by its name. Everything it creates is named after it, so that ``down`` can
find and remove it even when the state file is gone (a killed ``up``):

=====================  =============================================================
runtime dir            ``/run/mspctl-lab/<name>/`` (state.json, ssh key, known_hosts, logs)
host trees             ``/var/lib/mspctl/lab/<name>/<host>/{upper,work,root,apt}``
network namespace      ``mspctl-lab-<name>-<NN>``
bridge                 ``mspl<k>``, alias ``mspctl-lab:<name>``; subnet ``10.231.<k>.0/24``
nftables table         ``inet mspctl_lab_<name with - as _>``
supervisor processes   ``python -m mspctl.lab.supervisor --lab <name> --host <host> ...``
=====================  =============================================================
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mspctl.errors import BadInput

DEFAULT_NAME = "lab"
DISTROS = ("bookworm", "trixie")
DEFAULT_DISTRO = "bookworm"
MAX_HOSTS = 50

NAME_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,22}[a-z0-9])?$")
SUBNET_PREFIX = "10.231"  # lab k gets 10.231.<k>.0/24; host i is .10+i, the bridge is .1
FIRST_SLOT, LAST_SLOT = 1, 254


def run_root() -> Path:
    return Path(os.environ.get("MSPCTL_LAB_RUN_DIR", "/run/mspctl-lab"))


def var_root() -> Path:
    return Path(os.environ.get("MSPCTL_LAB_VAR_DIR", "/var/lib/mspctl/lab"))


def validate_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise BadInput(
            f"invalid lab name {name!r}: use 1-24 characters a-z, 0-9 and '-', "
            "starting with a letter and not ending with '-'"
        )
    return name


def host_name(lab: str, index: int) -> str:
    """``lab01``, ``lab02`` for the default lab: ``<name>NN``, or ``<name>-NN`` when the name
    has a '-' or ends with a digit (``pytest-4242-01``). Valid DNS labels, never two labs'
    alike (a '-' before the number appears only in names that have one)."""
    separator = "-" if "-" in lab or lab[-1].isdigit() else ""
    return f"{lab}{separator}{index:02d}"


def netns_name(lab: str, index: int) -> str:
    return f"mspctl-lab-{lab}-{index:02d}"


def netns_re(lab: str) -> re.Pattern[str]:
    return re.compile(rf"^mspctl-lab-{re.escape(lab)}-(\d\d)$")


NETNS_ANY_RE = re.compile(r"^mspctl-lab-([a-z][a-z0-9-]*)-(\d\d)$")


def nft_table(lab: str) -> str:
    return "mspctl_lab_" + lab.replace("-", "_")


NFT_TABLE_RE = re.compile(r"^mspctl_lab_([a-z][a-z0-9_]*)$")


def lab_from_nft_table(table: str) -> str | None:
    match = NFT_TABLE_RE.match(table)
    return match.group(1).replace("_", "-") if match else None


def bridge_name(slot: int) -> str:
    return f"mspl{slot}"


def bridge_alias(lab: str) -> str:
    return f"mspctl-lab:{lab}"


def veth_name(slot: int, index: int) -> str:
    return f"mspl{slot}v{index}"


def preferred_slot(lab: str) -> int:
    """The subnet slot a name asks for first: stable across runs, spread over the range."""
    digest = hashlib.sha256(lab.encode()).digest()
    return FIRST_SLOT + int.from_bytes(digest[:4], "big") % (LAST_SLOT - FIRST_SLOT + 1)


def slot_order(lab: str) -> list[int]:
    first = preferred_slot(lab)
    span = LAST_SLOT - FIRST_SLOT + 1
    return [FIRST_SLOT + (first - FIRST_SLOT + step) % span for step in range(span)]


def subnet(slot: int) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(f"{SUBNET_PREFIX}.{slot}.0/24")


def gateway(slot: int) -> str:
    return f"{SUBNET_PREFIX}.{slot}.1"


def host_ip(slot: int, index: int) -> str:
    return f"{SUBNET_PREFIX}.{slot}.{10 + index}"


@dataclass
class LabHost:
    name: str
    index: int
    ip: str
    netns: str
    veth: str
    groups: list[str]
    supervisor_pid: int | None = None


@dataclass
class LabState:
    """What ``up`` made, recorded in ``/run/mspctl-lab/<name>/state.json`` as it goes."""

    name: str
    distro: str
    slot: int
    image: str
    created: str
    hosts: list[LabHost] = field(default_factory=list)
    inventory_dir: str | None = None
    mirror_addresses: dict[str, str] = field(default_factory=dict)
    ready_seconds: float | None = None

    # -- derived places -------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return run_root() / self.name

    @property
    def var_dir(self) -> Path:
        return var_root() / self.name

    @property
    def ssh_key(self) -> Path:
        return self.run_dir / "ssh" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.run_dir / "ssh" / "known_hosts"

    @property
    def bridge(self) -> str:
        return bridge_name(self.slot)

    @property
    def subnet(self) -> str:
        return str(subnet(self.slot))

    @property
    def gateway(self) -> str:
        return gateway(self.slot)

    @property
    def inventory(self) -> Path | None:
        """The Ansible inventory (``hosts.yml``) written by ``up``."""
        return Path(self.inventory_dir) / "hosts.yml" if self.inventory_dir else None

    def host_dir(self, host: LabHost) -> Path:
        return self.var_dir / host.name

    def log_file(self, host: LabHost) -> Path:
        return self.run_dir / "logs" / f"{host.name}.log"

    # -- persistence ----------------------------------------------------------------------
    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, name: str) -> LabState | None:
        path = run_root() / name / "state.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        hosts = [LabHost(**h) for h in data.pop("hosts", [])]
        return cls(hosts=hosts, **data)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            subnet=self.subnet,
            bridge=self.bridge,
            gateway=self.gateway,
            inventory=str(self.inventory) if self.inventory else None,
            ssh_key=str(self.ssh_key),
            known_hosts=str(self.known_hosts),
        )
        return data


def recorded_labs() -> list[str]:
    """Names of labs that have a runtime directory (up, or left over by a killed run)."""
    root = run_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and NAME_RE.match(p.name))
