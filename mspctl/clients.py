"""Client inventories: ``inventories/<client>/`` holds an Ansible inventory and the contract.

- ``client.yml``: contract (tier, optional time-boxed trial), contacts, sites, time zone;
- ``hosts.yml``: a standard Ansible YAML inventory, hosts grouped by class (servers,
  workstations, nas, printers, network); ``group_vars/`` and ``host_vars/`` beside it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mspctl.catalogue import Catalogue
from mspctl.errors import BadInput
from mspctl.policies import HOST_CLASSES
from mspctl.yamlio import inventory_names, load_model, load_yaml, shorten, top_level

if TYPE_CHECKING:
    from mspctl.inventory import InventoryView

CLIENT_FILE = "client.yml"
# offboarded clients: inventories/.archive/<client>-<date>/, with a marker naming the client
ARCHIVE_DIR = ".archive"
OFFBOARDED_MARKER = "offboarded.json"
HOSTS_FILE = "hosts.yml"
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")  # always .fullmatch: `$` lets "x\n" pass
Date = Annotated[dt.date, Field(strict=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Trial(Strict):
    """A time-boxed trial of a higher tier (the MSP offers Platinum free for 60 days)."""

    tier: str
    start: Date
    end: Date
    offer: str | None = None  # the offer of tiers/offers.yml (default: the one lending `tier`)

    @model_validator(mode="after")
    def _ordered(self) -> Trial:
        if self.end < self.start:
            raise ValueError(f"trial end {self.end} is before its start {self.start}")
        return self

    def active(self, today: dt.date) -> bool:
        return self.start <= today <= self.end


class ContractTerms(Strict):
    tier: str
    start: Date
    end: Date | None = None
    trial: Trial | None = None
    trials: list[Trial] = Field(default_factory=list)  # earlier or later trials (mspctl.trials)


class Contact(Strict):
    name: str
    role: str
    email: str | None = None
    phone: str | None = None


class ExecutionNode(Strict):
    """A Linux box on the site's LAN (a small VM, a mini-PC, the NAS) that runs the site's jobs:
    mspctl streams each run to it over SSH (ansible-runner ``transmit | worker | process``,
    docs/nodes.md). ``mspctl nodes prepare`` installs its venv under ``path``."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    host: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")  # name or address, no options
    user: str = Field(default="root", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    port: Annotated[int, Field(ge=1, le=65535)] = 22
    capacity: Annotated[int, Field(ge=1, le=64)] = 1  # runs at once (fleet runs)
    path: str = Field(default="/opt/mspctl-node", pattern=r"^/[A-Za-z0-9._/-]{1,200}$")
    # the controller's SSH key for the node; None: ssh's defaults (agent, ~/.ssh)
    identity_file: str | None = None
    # the key the node uses for the site's hosts, sent inside each job (ssh-agent on the node,
    # never written there in clear); None: the node's own keys
    hosts_identity_file: str | None = None


class Site(Strict):
    name: str
    address: str | None = None
    node: ExecutionNode | None = None


class Monitoring(Strict):
    """Where the client's hosts are monitored: the MSP's Prometheus (its HTTP API), read by the
    monthly report for availability and alerts. A client without it is reported "not
    monitored"."""

    prometheus_url: str
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0

    @field_validator("prometheus_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(f"expected an http(s) URL, got {shorten(value)}")
        return value.rstrip("/")


class ClientFile(Strict):
    name: str
    timezone: str
    # ISO 3166 code whose public holidays stop the SLA clock; default: the country of the time
    # zone (tzdata's zone.tab), else IT (mspctl.incidents.sla.client_country)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    contract: ContractTerms
    # the language of client-facing documents (the monthly report, the review pack)
    language: Literal["en", "it"] = "en"
    monitoring: Monitoring | None = None
    contacts: list[Contact] = Field(default_factory=list)
    sites: list[Site] = Field(default_factory=list)
    notes: str | None = None

    @model_validator(mode="after")
    def _one_node(self) -> ClientFile:
        nodes = [s.node.name for s in self.sites if s.node is not None]
        if len(nodes) > 1:  # which host goes through which node is not modelled yet
            raise ValueError(f"at most one site of a client has an execution node, not {nodes}")
        return self

    @property
    def node(self) -> ExecutionNode | None:
        """The execution node that runs this client's jobs, or None (the controller)."""
        return next((s.node for s in self.sites if s.node is not None), None)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a huge name
            raise ValueError(f"unknown time zone {shorten(value)}") from None
        return value


@dataclass(frozen=True)
class Host:
    name: str
    classes: tuple[str, ...]
    platform: Literal["linux", "windows", "network", "snmp"]
    address: str | None


@dataclass(frozen=True)
class EffectiveTier:
    name: str
    reason: str  # "contract" or "trial until YYYY-MM-DD"
    trial: bool


@dataclass
class Client:
    slug: str
    directory: Path
    data: ClientFile
    display_dir: str
    vault_password_file: Path | None = None  # the default one ($MSPCTL_HOME/vault/<client>.pass)
    _views: dict[Path | None, InventoryView] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def inventory(self) -> Path:
        return self.directory / HOSTS_FILE

    def inventory_view(self, vault_password_file: Path | None = None) -> InventoryView:
        """The client's inventory as Ansible reads it, loaded once per vault password file."""
        if vault_password_file not in self._views:
            from mspctl.inventory import InventoryView

            self._views[vault_password_file] = InventoryView(
                [self.inventory],
                f"{self.display_dir}/",
                vault_password_file,
                directory=self.directory,
            )
        return self._views[vault_password_file]

    def effective_tier(self, today: dt.date | None = None) -> EffectiveTier:
        from mspctl.trials import all_trials

        today = today or dt.datetime.now(ZoneInfo(self.data.timezone)).date()
        for _key, trial in all_trials(self.data):
            if trial.active(today):
                return EffectiveTier(trial.tier, f"trial until {trial.end}", True)
        return EffectiveTier(self.data.contract.tier, "contract", False)

    @cached_property
    def hosts(self) -> list[Host]:
        """Hosts with their classes (groups servers, workstations, …), platform (from the
        connection variables) and address, as Ansible reads the inventory."""
        view = self.inventory_view(self.vault_password_file)
        return [
            _host(name, groups, variables) for name, groups, variables in view.hosts_with_vars()
        ]

    def as_dict(self, today: dt.date | None = None) -> dict[str, Any]:
        effective = self.effective_tier(today)
        return {
            "client": self.slug,
            **self.data.model_dump(mode="json", exclude_none=True),
            "effective_tier": {"name": effective.name, "reason": effective.reason},
            "hosts": [
                {
                    "name": h.name,
                    "classes": list(h.classes),
                    "platform": h.platform,
                    "address": h.address,
                }
                for h in self.hosts
            ],
        }


class ClientRegistry:
    def __init__(
        self,
        directory: Path,
        catalogue: Catalogue,
        vault_password_file: Callable[[str], Path | None] | None = None,
    ) -> None:
        """``vault_password_file`` gives a client's default vault password file, if any."""
        self.directory = directory
        self.catalogue = catalogue
        self._vault_password_file = vault_password_file

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.parent.name for p in self.directory.glob(f"*/{CLIENT_FILE}"))

    def _display(self, slug: str) -> str:
        return f"{self.directory.name}/{slug}"

    def get(self, slug: str, *, inventory: bool = True) -> Client:
        """A client, checked. Its inventory is read and checked now unless ``inventory`` is
        false (a command that reads only the run store and the client file): then on first
        use of :attr:`Client.hosts`."""
        directory = self.directory / slug
        valid = _SLUG.fullmatch(slug) is not None
        if not valid or not (directory / CLIENT_FILE).is_file():
            if (
                not valid
                and "/" not in slug
                and slug not in (".", "..")
                and (directory / CLIENT_FILE).is_file()
            ):
                raise BadInput(
                    "not a client name (lower-case letters, digits and '-')",
                    file=self._display(slug),
                )
            folders = archived_folders(self.directory, slug) if valid else []
            if folders:
                shown = f"{self.directory.name}/{ARCHIVE_DIR}/{folders[-1].name}"
                raise BadInput(
                    f"client {slug} is offboarded (inventory archived in {shown}); "
                    f"`mspctl clients restore {slug}` brings it back"
                )
            known = ", ".join(self.names()) or "none"
            raise BadInput(f"unknown client {shorten(slug)} (known: {known})")
        display = self._display(slug)
        file = f"{display}/{CLIENT_FILE}"
        data = load_model(directory / CLIENT_FILE, ClientFile, display=file)
        from mspctl.trials import all_trials, check_trials

        tiers = [("contract.tier", data.contract.tier)]
        tiers += [(f"{key}.tier", trial.tier) for key, trial in all_trials(data)]
        for key, tier in tiers:
            if tier and tier not in self.catalogue.names:
                raise BadInput(f"unknown tier {shorten(tier)}", file=file, key=key)
        check_trials(data, self.catalogue.offers, file=file)
        _check_inventory_files(directory, display)
        vault_file = self._vault_password_file(slug) if self._vault_password_file else None
        client = Client(
            slug=slug,
            directory=directory,
            data=data,
            display_dir=display,
            vault_password_file=vault_file,
        )
        if inventory:
            client.hosts  # noqa: B018 - validate the inventory now, before anything runs
        return client

    def create(self, slug: str, tier: str, *, name: str | None, timezone: str) -> Client:
        """Scaffold a valid, empty client."""
        if not _SLUG.fullmatch(slug):
            raise BadInput("client names are lower-case letters, digits and '-'", key=shorten(slug))
        self.catalogue.get(tier)
        directory = self.directory / slug
        if directory.exists():
            raise BadInput("client already exists", file=self._display(slug))
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise BadInput(f"unknown time zone {shorten(timezone)}", key="--timezone") from None
        from mspctl.scaffold import write_client_atomically

        try:
            write_client_atomically(
                directory, slug=slug, tier=tier, name=name or slug, timezone=timezone
            )
        except FileExistsError:
            raise BadInput("client already exists", file=self._display(slug)) from None
        except OSError as exc:
            raise BadInput(
                f"cannot create the client folder: {exc.strerror}", file=self._display(slug)
            ) from None
        return self.get(slug)


def archived_folders(inventories: Path, slug: str) -> list[Path]:
    """The archived inventory folders of an offboarded client, oldest first (their markers
    name the client and the time; ``mspctl.offboard`` writes them)."""
    import json

    root = inventories / ARCHIVE_DIR
    found = []
    for marker in sorted(root.glob(f"*/{OFFBOARDED_MARKER}")) if root.is_dir() else []:
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("client") == slug:
            found.append((str(data.get("offboarded_at", "")), marker.parent))
    return [path for _when, path in sorted(found)]


VARS_SUFFIXES = (".yml", ".yaml")


def _check_inventory_files(directory: Path, display: str) -> None:
    """Every inventory file of a client through mspctl's YAML loader before anything reads it
    (duplicate keys, alias bombs, bad dates, encodings): hosts.yml, group_vars/, host_vars/.
    Vault-encrypted files are left to Ansible, which alone can decrypt them."""
    load_yaml(directory / HOSTS_FILE, display=f"{display}/{HOSTS_FILE}", names=inventory_names)
    for folder in ("group_vars", "host_vars"):
        root = directory / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix not in VARS_SUFFIXES or not path.is_file():
                continue
            shown = f"{display}/{path.relative_to(directory).as_posix()}"
            with path.open("rb") as handle:
                if handle.read(14) == b"$ANSIBLE_VAULT":
                    continue
            data = load_yaml(path, display=shown, names=top_level)
            if data is not None and not isinstance(data, dict):
                raise BadInput("a variables file must be a mapping of variable names", file=shown)


def _host(name: str, groups: list[str], variables: dict[str, Any]) -> Host:
    """A host's classes and platform: ``windows`` (WinRM/PSRP), ``network`` (a device the
    network policy drives with netmiko — ``network_device_type`` — or Ansible's network
    connections), ``snmp`` (the inventory group ``snmp``: a NAS or printer polled by the MSP's
    snmp_exporter, nothing runs on it), else ``linux``."""
    connection = str(variables.get("ansible_connection", "ssh"))
    platform: Literal["linux", "windows", "network", "snmp"]
    if "snmp" in groups:
        platform = "snmp"
    elif "winrm" in connection or "psrp" in connection:
        platform = "windows"
    elif any(c in connection for c in ("network_cli", "netconf")) or (
        "ansible_network_os" in variables or "network_device_type" in variables
    ):
        platform = "network"
    else:
        platform = "linux"
    classes = tuple(c for c in HOST_CLASSES if c in groups)
    address = variables.get("ansible_host")
    return Host(name, classes, platform, None if address is None else _text(address))


def _text(value: Any) -> str | None:
    """A variable as text; an inline !vault value that cannot be decrypted shows as none."""
    from ansible.errors import AnsibleError

    try:
        return str(value)
    except AnsibleError:
        return None
