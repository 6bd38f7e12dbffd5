"""Clients as AWX resources: the JSON that awxkit's ``awx import`` reads (docs/nodes.md).

``awx export`` writes, and ``awx import`` reads, one list per resource type under the keys of
awxkit's ``EXPORTABLE_RESOURCES``; each object carries the fields AWX's API accepts on create, a
``natural_key`` (``type`` and the fields that name it: an inventory by organization and name, a
host or group by name and inventory, a credential by organization, name and credential type)
and under ``related`` what it holds (an inventory its hosts and groups, a group the natural keys
of its hosts and children, a job template the natural keys of its credentials). Foreign keys
(a job template's inventory and project) are natural keys too, resolved by ``awx import``.

What is written: an organization for the MSP, a project pointing at this repository, per client
an inventory (its groups, hosts and their non-secret variables as ``ansible-inventory --list
--export`` reads them, the tier's role variables and ``mspctl_tier`` as inventory variables)
and a job template applying its tier with mspctl's playbook and run context.

What is never written: a secret. Vaulted values and files, connection passwords and keys, role
options declared ``no_log`` are left out; the job template names instead a Machine credential
(and a Vault credential when the client has vaulted variables) that the MSP creates in AWX by
hand, as the execution nodes' instance groups (AWX cannot import either). Nothing is decrypted:
no vault password is read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mspctl.errors import BadInput

if TYPE_CHECKING:
    from mspctl.clients import Client
    from mspctl.workspace import Workspace

# awxkit.api.pages.api.EXPORTABLE_RESOURCES: the top-level keys `awx import` reads
EXPORTABLE_RESOURCES = (
    "users",
    "organizations",
    "teams",
    "credential_types",
    "credentials",
    "notification_templates",
    "projects",
    "inventory",
    "inventory_sources",
    "job_templates",
    "workflow_job_templates",
    "execution_environments",
    "applications",
    "schedules",
)
# what `awx import` cannot create: the credentials' secrets and the instance groups (not among
# its resources); ignored by `awx import`, read by people and scripts
MANUAL_KEY = "mspctl_create_by_hand"
DEFAULT_ORGANIZATION = "MSP"
PROJECT_NAME = "mspctl"
PLACEHOLDER_URL = "https://git.example.invalid/msp/mspctl.git"
# connection variables that are secrets or the controller's paths to them: AWX's Machine
# credential holds them
CONNECTION_SECRETS = frozenset(
    {
        "ansible_password",
        "ansible_ssh_pass",
        "ansible_ssh_password",
        "ansible_become_pass",
        "ansible_become_password",
        "ansible_winrm_password",
        "ansible_httpapi_password",
        "ansible_ssh_private_key_file",
        "ansible_private_key_file",
    }
)
VAULT_MARK = "$ANSIBLE_VAULT"
_VAULT_TYPES = frozenset({"EncryptedString", "AnsibleVaultEncryptedUnicode"})
_VARS_SUFFIXES = frozenset({"", ".yml", ".yaml", ".json"})
_REFERENCE = re.compile(r"^\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}$")


@dataclass
class Export:
    data: dict[str, Any]
    manual: list[str] = field(default_factory=list)  # what the MSP creates in AWX by hand
    omitted: list[str] = field(default_factory=list)  # secret variables left out, by name


def natural_key(resource: str, **fields: Any) -> dict[str, Any]:
    return {**fields, "type": resource}


def export(
    workspace: Workspace,
    slugs: list[str],
    *,
    organization: str = DEFAULT_ORGANIZATION,
    project_url: str = PLACEHOLDER_URL,
    branch: str = "main",
) -> Export:
    """The AWX resources of ``slugs``; bad input (an unknown client, a broken client.yml or
    inventory file) raises :class:`BadInput` before anything is returned."""
    from mspctl.fingerprints import SITE_PLAYBOOK

    org_key = natural_key("organization", name=organization)
    project_key = natural_key("project", organization=org_key, name=PROJECT_NAME)
    result = Export({key: [] for key in EXPORTABLE_RESOURCES})
    manual: dict[str, list[dict[str, Any]]] = {"credentials": [], "instance_groups": []}
    result.data["organizations"].append(
        {
            "name": organization,
            "description": "The managed-service provider (written by mspctl awx export)",
            "natural_key": org_key,
        }
    )
    result.data["projects"].append(
        {
            "name": PROJECT_NAME,
            "description": "mspctl's tiers, playbooks and roles",
            "scm_type": "git",
            "scm_url": project_url,
            "scm_branch": branch,
            "scm_update_on_launch": True,
            "allow_override": False,
            "organization": org_key,
            "natural_key": project_key,
        }
    )
    for slug in dict.fromkeys(slugs):
        client = workspace.clients.get(slug)
        effective = client.effective_tier()  # what `mspctl apply CLIENT` applies today
        tier_name = effective.name
        resolved = workspace.catalogue.get(tier_name)
        inventory, secrets = _inventory(
            workspace, client, org_key, {**resolved.tier.role_vars(), "mspctl_tier": tier_name}
        )
        inventory_key = inventory["natural_key"]
        result.data["inventory"].append(inventory)
        result.omitted += secrets
        credentials = [
            _credential(manual, org_key, f"{slug} hosts", "Machine", "ssh", slug, "the SSH user "
                        "and key (or password) of the client's hosts; become if needed")
        ]  # fmt: skip
        if any("vaulted" in s for s in secrets):
            credentials.append(
                _credential(manual, org_key, f"{slug} vault", "Vault", "vault", slug,
                            "the client's vault password ($MSPCTL_HOME/vault/<client>.pass)")
            )  # fmt: skip
        result.data["job_templates"].append(
            {
                "name": f"{slug} {tier_name}",
                "description": f"Apply tier {tier_name} ({effective.reason}) to {client.data.name}",
                "job_type": "run",
                "inventory": inventory_key,
                "project": project_key,
                "playbook": f"playbooks/{SITE_PLAYBOOK}",
                "forks": 10,
                "limit": "",
                "verbosity": 0,
                "extra_vars": json.dumps(_run_context(workspace, client, resolved), indent=2),
                "diff_mode": False,
                "become_enabled": False,
                "allow_simultaneous": False,
                "use_fact_cache": False,
                "ask_limit_on_launch": True,
                "ask_job_type_on_launch": True,  # "check": the drift run
                "natural_key": natural_key(
                    "job_template", organization=org_key, name=f"{slug} {tier_name}"
                ),
                "related": {"credentials": credentials},
            }
        )
        node = client.data.node
        if node is not None:
            manual["instance_groups"].append(
                {
                    "name": node.name,
                    "client": slug,
                    "execution_node": f"{node.user}@{node.host}:{node.port}",
                    "capacity": node.capacity,
                    "use_for": [inventory["name"], f"{slug} {tier_name}"],
                }
            )
    result.data[MANUAL_KEY] = manual
    for credential in manual["credentials"]:
        result.manual.append(
            f"credential {credential['name']!r} ({credential['credential_type']}, organization "
            f"{organization}): {credential['holds']}"
        )
    for group in manual["instance_groups"]:
        result.manual.append(
            f"instance group {group['name']!r}: register the execution node "
            f"{group['execution_node']} in it (AWX's install bundle, capacity "
            f"{group['capacity']}), then set it on inventory {group['client']!r} and job "
            f"template {group['use_for'][1]!r}"
        )
    return result


def _credential(
    manual: dict[str, list[dict[str, Any]]],
    org_key: dict[str, Any],
    name: str,
    type_name: str,
    kind: str,
    client: str,
    holds: str,
) -> dict[str, Any]:
    manual["credentials"].append(
        {"name": name, "credential_type": type_name, "client": client, "holds": holds}
    )
    type_key = natural_key("credential_type", name=type_name, kind=kind)
    return natural_key("credential", organization=org_key, name=name, credential_type=type_key)


def _run_context(workspace: Workspace, client: Client, resolved: Any) -> dict[str, Any]:
    """What ``mspctl apply`` passes as extra variables, for the contract's tier on every host:
    no window override, no bookings (they are per run)."""
    from mspctl.engine import run_context

    tier = resolved.tier
    policies = {name: tier.host_pattern(name) for name in tier.enabled_policies}
    return run_context(workspace, client, resolved, tier.name, policies)


def _inventory(
    workspace: Workspace, client: Client, org_key: dict[str, Any], tier_vars: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The client's AWX inventory, and the secret variables left out (``where: name (why)``)."""
    from ansible import constants
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    client.inventory_view(None)  # parsed strictly: a broken inventory is bad input, here
    manager = InventoryManager(loader=DataLoader(), sources=[str(client.inventory)])
    secret_names = _role_secrets(workspace)
    omitted: list[str] = []
    key = natural_key("inventory", organization=org_key, name=client.slug)
    inventory_dir = client.inventory.parent

    def clean(where: str, variables: dict[str, Any]) -> dict[str, Any]:
        kept = {}
        for name, value in variables.items():
            if name in constants.INTERNAL_STATIC_VARS:  # inventory_file and the like
                continue
            why = _secret(name, value, secret_names)
            if why:
                omitted.append(f"{where}: {name} ({why})")
            else:
                kept[str(name)] = _plain(value)
        return kept

    def group_vars(name: str) -> dict[str, Any]:
        group = manager.groups[name]
        files = _vars_files(client, inventory_dir / "group_vars", name, omitted)
        variables = clean(f"group {name}", {**dict(group.vars), **files})
        if group.priority != 1:
            variables["ansible_group_priority"] = group.priority
        return variables

    hosts = []
    for host in sorted(manager.get_hosts("all"), key=lambda h: h.name):
        files = _vars_files(client, inventory_dir / "host_vars", host.name, omitted)
        variables = clean(f"host {host.name}", {**dict(host.vars), **files})
        hosts.append(
            {
                "name": host.name,
                "description": "",
                "enabled": True,
                "variables": json.dumps(variables, indent=2),
                "natural_key": natural_key("host", name=host.name, inventory=key),
            }
        )
    groups = []
    for name in sorted(manager.groups):
        if name in ("all", "ungrouped"):
            continue
        group = manager.groups[name]
        groups.append(
            {
                "name": name,
                "description": "",
                "variables": json.dumps(group_vars(name), indent=2),
                "natural_key": natural_key("group", name=name, inventory=key),
                "related": {
                    "hosts": [
                        natural_key("host", name=h.name, inventory=key)
                        for h in sorted(group.hosts, key=lambda h: h.name)
                    ],
                    "children": [
                        natural_key("group", name=c.name, inventory=key)
                        for c in sorted(group.child_groups, key=lambda c: c.name)
                    ],
                },
            }
        )
    # the tier's role variables at the lowest precedence, as mspctl's run gives them (its
    # tier.yml inventory), under the client's own `all` variables; its name as mspctl_tier
    variables = {**tier_vars, **group_vars("all"), "mspctl_tier": tier_vars["mspctl_tier"]}
    inventory = {
        "name": client.slug,
        "description": f"{client.data.name}: hosts of inventories/{client.slug}/ (mspctl)",
        "organization": org_key,
        "kind": "",
        "host_filter": None,
        "variables": json.dumps(variables, indent=2),
        "natural_key": key,
        "related": {"hosts": hosts, "groups": groups},
    }
    return inventory, omitted


def _role_secrets(workspace: Workspace) -> frozenset[str]:
    from mspctl.inventory import secrets_of
    from mspctl.policies import POLICIES

    return frozenset(s.variable for s in secrets_of(workspace.config.project_dir, POLICIES))


def _secret(name: Any, value: Any, role_secrets: frozenset[str]) -> str | None:
    """Why variable ``name`` is a secret that is never exported, or None."""
    if _holds_vault(value):
        return "vaulted"
    if name in CONNECTION_SECRETS:
        return "connection secret: the Machine credential"
    if name in role_secrets and not (isinstance(value, str) and _REFERENCE.match(value)):
        return "a role's no_log option"
    return None


def _holds_vault(value: Any) -> bool:
    if type(value).__name__ in _VAULT_TYPES:
        return True  # checked by type: str() of an encrypted value would try to decrypt it
    if isinstance(value, str):
        return VAULT_MARK in value
    if isinstance(value, dict):
        return any(_holds_vault(k) or _holds_vault(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_vault(v) for v in value)
    return False


def _plain(value: Any) -> Any:
    """A variable's value as plain JSON types (ansible's tagged str/dict/list subclasses)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _vars_files(client: Client, directory: Path, name: str, omitted: list[str]) -> dict[str, Any]:
    """Variables of ``group_vars/<name>`` or ``host_vars/<name>`` (a file with or without a
    .yml/.yaml/.json suffix, or a directory of them, in ansible's order), read without any vault
    password: a vaulted file is left out whole and listed in ``omitted``."""
    candidates = [directory / f"{name}{suffix}" for suffix in sorted(_VARS_SUFFIXES)]
    files = [p for p in candidates if p.is_file()]
    folder = directory / name
    if folder.is_dir():
        files += sorted(
            p
            for p in folder.rglob("*")
            if p.is_file()
            and p.suffix in _VARS_SUFFIXES
            and not p.name.startswith(".")
            and not p.name.endswith("~")
        )
    from mspctl.yamlio import load_yaml, top_level

    found: dict[str, Any] = {}
    for path in files:
        shown = f"{client.display_dir}/{path.relative_to(client.directory)}"
        # Ansible's tags read as their text: an inline !vault value is its ciphertext, which
        # _holds_vault finds; a vaulted file is one such string
        data = load_yaml(path, display=shown, names=top_level)
        if isinstance(data, str) and data.lstrip().startswith(VAULT_MARK):
            omitted.append(f"{shown}: the whole file (vaulted)")
            continue
        if data is None:
            continue
        if not isinstance(data, dict):
            raise BadInput("not a mapping of variables", file=shown)
        found.update(data)
    return found


__all__ = ["EXPORTABLE_RESOURCES", "MANUAL_KEY", "PLACEHOLDER_URL", "Export", "export"]
