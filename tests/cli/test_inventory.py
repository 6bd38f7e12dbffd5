"""Client inventories are read by Ansible, strictly: what it cannot parse is bad input naming
the file; what it accepts (inline !vault, !unsafe) mspctl accepts too."""

from __future__ import annotations

import json

VAULT_PASSWORD = b"correct horse"


def _hosts(cli):
    return cli.project / "inventories/demo/hosts.yml"


def _bad(result, *fragments):
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_hosts_file_ansible_cannot_parse(cli):
    _hosts(cli).write_text("all:\n  children:\n    servers:\n      hosts:\n        a: {x: [1, 2}\n")
    _bad(cli("clients", "show", "demo"), "inventories/demo/hosts.yml:5", "YAML parsing failed")
    _bad(cli("apply", "demo"), "inventories/demo/hosts.yml")
    assert not (cli.home / "mspctl.db").exists()


def test_broken_yaml_in_group_vars(cli):
    group_vars = cli.project / "inventories/demo/group_vars"
    group_vars.mkdir()
    (group_vars / "all.yml").write_text("ntp_servers: [a, b\nlocale: C\n")
    _bad(cli("clients", "show", "demo"), "inventories/demo/group_vars/all.yml:2")
    _bad(cli("apply", "demo"), "inventories/demo/group_vars/all.yml")


def test_broken_yaml_in_host_vars(cli):
    (cli.project / "inventories/demo/host_vars/demo-server.yml").write_text("a: {b\n")
    _bad(cli("clients", "list"), "inventories/demo/host_vars/demo-server.yml")


def test_inline_vault_and_unsafe_values_are_accepted(cli):
    from ansible.parsing.vault import VaultLib, VaultSecret

    blob = VaultLib([("default", VaultSecret(VAULT_PASSWORD))]).encrypt("s3cr3t").decode()
    vaulted = "".join(f"            {line}\n" for line in blob.splitlines())
    text = _hosts(cli).read_text().replace(
        "          ansible_connection: local\n",
        "          ansible_connection: local\n"
        "          motd: !unsafe 'literal {{ braces }}'\n"
        f"          api_token: !vault |\n{vaulted}",
    )
    _hosts(cli).write_text(text)
    shown = cli.json("clients", "show", "demo")
    assert shown["hosts"] == [{"name": "demo-server", "classes": ["servers"],
                               "platform": "linux", "address": None}]
    result = cli("apply", "demo", "--check", "--json", "--policy", "assets", "--limit", "x*")
    assert result.exit_code == 3, result.output  # the inventory was read: only the limit is bad
    assert "--limit x*: matches no host" in result.stderr


def test_no_policy_group_still_excludes_the_host(cli):
    text = _hosts(cli).read_text() + "    no_assets:\n      hosts: {demo-server: {}}\n"
    _hosts(cli).write_text(text.replace(
        "          ansible_connection: local\n",
        "          ansible_connection: local\n          note: !unsafe '{{ not templated }}'\n"))
    result = cli("apply", "demo", "--check", "--json", "--policy", "assets")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["policies"]["assets"].endswith(":!no_assets")
    assert "no host of demo in scope for policy assets" in result.stderr
    run = cli.json("runs", "show", summary["run_id"])
    assert [t for t in run["tasks"] if t["policy"] == "assets"] == []
