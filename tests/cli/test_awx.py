"""``mspctl awx export``: the JSON awxkit's ``awx import`` reads (docs/nodes.md).

The example client and a client with every kind of secret (a vaulted file, an inline vaulted
value, a connection password, a role's no_log option) and an execution node: the hosts and
groups equal what ``ansible-inventory --list --export`` reads from the same inventory, no
secret and no vault text is written, and every resource carries what ``awx import`` needs.
Bad input is one line naming the file, exit 3, nothing written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mspctl.awx import EXPORTABLE_RESOURCES, MANUAL_KEY

VAULT_PASSWORD = "correct horse battery staple"
SECRETS = {  # variable -> its clear value: never in the export
    "vault_backup_agent_password": "restic-Secret-0ne",  # group_vars/all/vault.yml, vaulted
    "switch_enable_secret": "inline-Secret-Tw0",  # host_vars, an inline !vault value
    "ansible_password": "clear-Secret-Thr3e",  # a connection password in clear
    "backup_agent_password": "clear-Secret-F0ur",  # a role's no_log option in clear
}
HOSTS = {
    "all": {
        "vars": {"shop_city": "Torino"},
        "children": {
            "servers": {
                "hosts": {
                    "fs1": {"ansible_host": "192.0.2.11", "ansible_user": "root"},
                    "fs2": {
                        "ansible_host": "192.0.2.12",
                        "backup_agent_password": SECRETS["backup_agent_password"],
                    },
                },
                "vars": {"monitoring_port": 9101},
            },
            "workstations": {
                "children": {
                    "office": {"hosts": {"pc1": {"ansible_host": "192.0.2.21"}}},
                    "lab_room": {
                        "hosts": {
                            "pc2": {
                                "ansible_host": "192.0.2.22",
                                "ansible_password": SECRETS["ansible_password"],
                            }
                        }
                    },
                }
            },
            "nas": {"hosts": {}},
        },
    }
}
CLIENT_YML = """\
name: Shop Torino
timezone: Europe/Rome
contract:
  tier: gold
  start: 2026-01-05
contacts:
  - name: Ada Rossi
    role: primary
    email: ada@shop.example
sites:
  - name: Shop
    address: 3 via Roma, Torino
    node: {name: shop-node, host: 192.0.2.10, capacity: 3}
"""


def _encrypt(text: str) -> str:
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))])
    return vault.encrypt(text).decode()


@pytest.fixture
def shop(cli) -> Path:
    """Client `shop`: nested groups, group and host variables, every kind of secret, a node."""
    import yaml

    directory = cli.project / "inventories" / "shop"
    directory.mkdir()
    (directory / "client.yml").write_text(CLIENT_YML)
    (directory / "hosts.yml").write_text(yaml.safe_dump(HOSTS))
    (directory / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    (directory / "group_vars" / "all" / "backup.yml").write_text(
        "backup_agent_password: '{{ vault_backup_agent_password }}'\nbackup_agent_paths: [/srv]\n"
    )
    vaulted = _encrypt(f"vault_backup_agent_password: {SECRETS['vault_backup_agent_password']}\n")
    (directory / "group_vars" / "all" / "vault.yml").write_text(vaulted)
    (directory / "group_vars" / "office.yml").write_text("printer_queue: office-laser\n")
    inline = _encrypt(SECRETS["switch_enable_secret"])
    (directory / "host_vars").mkdir(exist_ok=True)
    (directory / "host_vars" / "fs1.yml").write_text(
        "assets_warranty: {vendor_contract: FS-1}\nswitch_enable_secret: !vault |\n"
        + "".join(f"  {line}\n" for line in inline.splitlines())
    )
    (cli.home / "vault").mkdir(parents=True, exist_ok=True)
    (cli.home / "vault" / "shop.pass").write_text(VAULT_PASSWORD + "\n")
    return directory


def _export(cli, *clients: str) -> tuple[dict[str, Any], str, str]:
    result = cli("awx", "export", *clients)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stdout, result.stderr


def _ansible_inventory(directory: Path, vault: Path | None) -> dict[str, Any]:
    command = [str(Path(sys.executable).with_name("ansible-inventory")), "-i",
               str(directory / "hosts.yml"), "--list", "--export"]  # fmt: skip
    if vault is not None:
        command += ["--vault-password-file", str(vault)]
    proc = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _variables(resource: dict[str, Any]) -> dict[str, Any]:
    value = json.loads(resource["variables"])
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("client", ["demo", "shop"])
def test_hosts_and_groups_are_what_ansible_inventory_reads(cli, shop, client) -> None:
    data, _, _ = _export(cli, client)
    vault = cli.home / "vault" / f"{client}.pass"
    expected = _ansible_inventory(
        cli.project / "inventories" / client, vault if vault.exists() else None
    )
    (inventory,) = data["inventory"]
    assert inventory["name"] == client
    hosts = {h["name"]: h for h in inventory["related"]["hosts"]}
    groups = {g["name"]: g for g in inventory["related"]["groups"]}
    hostvars = expected["_meta"]["hostvars"]
    assert set(hosts) == set(hostvars)
    named = {*expected, *expected["all"].get("children", [])} - {"_meta", "all", "ungrouped"}
    assert set(groups) == named
    for name, host in hosts.items():
        want = {k: v for k, v in hostvars.get(name, {}).items() if k not in SECRETS}
        assert _variables(host) == want, name
    for name, group in groups.items():
        listed = expected.get(name, {})
        related = group["related"]
        assert sorted(h["name"] for h in related["hosts"]) == sorted(listed.get("hosts", []))
        assert sorted(c["name"] for c in related["children"]) == sorted(listed.get("children", []))
        assert _variables(group) == {k: v for k, v in listed.get("vars", {}).items()}, name
    # `all`'s own variables are the inventory's, over the tier's role variables
    variables = _variables(inventory)
    for key, value in expected["all"].get("vars", {}).items():
        if key not in SECRETS:
            assert variables[key] == value, key
    assert (
        variables["mspctl_tier"]
        == json.loads(data["job_templates"][0]["extra_vars"])["mspctl_tier"]
    )


def test_no_secret_and_no_vault_text_is_exported(cli, shop) -> None:
    data, stdout, stderr = _export(cli, "demo", "shop")
    for name, value in SECRETS.items():
        assert value not in stdout, name
    assert "$ANSIBLE_VAULT" not in stdout and "ANSIBLE_VAULT" not in stdout.upper()
    assert "!vault" not in stdout
    # the secret variables are left out and named on stderr; what is kept is not secret
    shop_inventory = next(i for i in data["inventory"] if i["name"] == "shop")
    everything = [
        shop_inventory,
        *shop_inventory["related"]["hosts"],
        *shop_inventory["related"]["groups"],
    ]
    kept = {key for resource in everything for key in _variables(resource)}
    assert "vault_backup_agent_password" not in kept and "switch_enable_secret" not in kept
    assert "ansible_password" not in kept
    assert "backup_agent_password" in kept  # the reference to the vaulted value, on `all`
    assert _variables(
        next(h for h in shop_inventory["related"]["hosts"] if h["name"] == "fs2")
    ) == {"ansible_host": "192.0.2.12"}
    for shown in ("group_vars/all/vault.yml", "switch_enable_secret", "ansible_password"):
        assert shown in stderr, shown
    # the job template names the credentials instead; they and the node are to create by hand
    template = next(t for t in data["job_templates"] if t["name"].startswith("shop "))
    names = {c["name"]: c["credential_type"]["kind"] for c in template["related"]["credentials"]}
    assert names == {"shop hosts": "ssh", "shop vault": "vault"}
    demo = next(t for t in data["job_templates"] if t["name"].startswith("demo "))
    assert [c["name"] for c in demo["related"]["credentials"]] == ["demo hosts"]  # no vault
    manual = data[MANUAL_KEY]
    assert {c["name"] for c in manual["credentials"]} == {"demo hosts", "shop hosts", "shop vault"}
    assert [(g["name"], g["capacity"]) for g in manual["instance_groups"]] == [("shop-node", 3)]
    for line in ("'shop vault' (Vault", "'shop hosts' (Machine", "instance group 'shop-node'"):
        assert line in stderr, line


def test_every_resource_has_what_awx_import_needs(cli, shop) -> None:
    data, _, stderr = _export(cli, "shop", "demo", "shop")
    assert list(data) == [*EXPORTABLE_RESOURCES, MANUAL_KEY]
    (organization,) = data["organizations"]
    org_key = {"name": "MSP", "type": "organization"}
    assert organization["name"] == "MSP" and organization["natural_key"] == org_key
    (project,) = data["projects"]
    assert project["organization"] == org_key and project["scm_type"] == "git"
    assert project["scm_url"] == "https://git.example.invalid/msp/mspctl.git"
    assert "placeholder" in stderr
    assert project["natural_key"] == {
        "organization": org_key,
        "name": project["name"],
        "type": "project",
    }
    assert [i["name"] for i in data["inventory"]] == ["shop", "demo"]  # once each
    for inventory in data["inventory"]:
        key = {"organization": org_key, "name": inventory["name"], "type": "inventory"}
        assert inventory["natural_key"] == key and inventory["organization"] == org_key
        host_keys = []
        for host in inventory["related"]["hosts"]:
            assert host["natural_key"] == {"name": host["name"], "inventory": key, "type": "host"}
            host_keys.append(host["natural_key"])
        group_keys = [g["natural_key"] for g in inventory["related"]["groups"]]
        for group in inventory["related"]["groups"]:
            assert group["natural_key"] == {
                "name": group["name"],
                "inventory": key,
                "type": "group",
            }
            assert all(h in host_keys for h in group["related"]["hosts"])
            assert all(c in group_keys for c in group["related"]["children"])
    inventories = {i["name"]: i["natural_key"] for i in data["inventory"]}
    for template in data["job_templates"]:
        client = template["name"].split()[0]
        assert template["inventory"] == inventories[client]
        assert template["project"] == project["natural_key"]
        assert (cli.project / template["playbook"]).is_file()
        assert template["natural_key"] == {
            "organization": org_key,
            "name": template["name"],
            "type": "job_template",
        }
        context = json.loads(template["extra_vars"])
        assert context["mspctl_client"] == client and context["mspctl_policies"]
        for credential in template["related"]["credentials"]:
            assert credential["organization"] == org_key and credential["type"] == "credential"
            assert set(credential["credential_type"]) == {"name", "kind", "type"}
    shop = next(t for t in data["job_templates"] if t["name"].startswith("shop "))
    assert shop["name"] == "shop gold" and json.loads(shop["extra_vars"])["mspctl_tier"] == "gold"


def test_export_to_a_file_with_the_project_url(cli, shop, tmp_path) -> None:
    target = tmp_path / "awx.json"
    url = "https://git.example.com/msp/policies.git"
    result = cli("awx", "export", "shop", "-o", str(target), "--project-url", url,
                 "--organization", "Acme MSP")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    data = json.loads(target.read_text())
    assert data["projects"][0]["scm_url"] == url and "placeholder" not in result.stderr
    assert data["organizations"][0]["name"] == "Acme MSP"
    assert data["inventory"][0]["organization"] == {"name": "Acme MSP", "type": "organization"}


def test_an_empty_organization_is_bad_input(cli) -> None:
    result = cli("awx", "export", "demo", "--organization", " ")
    assert result.exit_code == 3 and "--organization: must not be empty" in result.stderr


@pytest.mark.parametrize(
    ("breakage", "words"),
    [
        (None, "unknown client 'nosuch'"),
        (("client.yml", "name: [unclosed\n"), "inventories/shop/client.yml"),
        (("client.yml", "name: Shop\ntimezone: Europe/Rome\n"), "inventories/shop/client.yml"),
        (("hosts.yml", "all:\n  hosts: [\n"), "inventories/shop/hosts.yml"),
        (("group_vars/office.yml", "a: [b\n"), "inventories/shop/group_vars/office.yml:"),
        (("group_vars/office.yml", "- a list\n"), "inventories/shop/group_vars/office.yml"),
    ],
)
def test_bad_input_is_one_line_and_exit_3(cli, shop, tmp_path, breakage, words) -> None:
    target = tmp_path / "awx.json"
    client = "nosuch"
    if breakage is not None:
        client = "shop"
        (shop / breakage[0]).write_text(breakage[1])
    result = cli("awx", "export", "demo", client, "-o", str(target))
    assert result.exit_code == 3, result.output
    assert words in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output
    assert not target.exists()
