"""Client inventories are read by Ansible: what it accepts (inline !vault, !unsafe) mspctl
accepts too. (What it cannot parse is bad input: tests/cli/test_bad_input.py.)"""

from __future__ import annotations

import json

VAULT_PASSWORD = b"correct horse"


def _hosts(cli):
    return cli.project / "inventories/demo/hosts.yml"


def test_inline_vault_and_unsafe_values_are_accepted(cli):
    from ansible.parsing.vault import VaultLib, VaultSecret

    blob = VaultLib([("default", VaultSecret(VAULT_PASSWORD))]).encrypt("s3cr3t").decode()
    vaulted = "".join(f"            {line}\n" for line in blob.splitlines())
    text = (
        _hosts(cli)
        .read_text()
        .replace(
            "          ansible_connection: local\n",
            "          ansible_connection: local\n"
            "          motd: !unsafe 'literal {{ braces }}'\n"
            f"          api_token: !vault |\n{vaulted}",
        )
    )
    _hosts(cli).write_text(text)
    shown = cli.json("clients", "show", "demo")
    assert shown["hosts"] == [
        {"name": "demo-server", "classes": ["servers"], "platform": "linux", "address": None}
    ]
    result = cli("apply", "demo", "--check", "--json", "--policy", "assets", "--limit", "x*")
    assert result.exit_code == 3, result.output  # the inventory was read: only the limit is bad
    assert "--limit x*: matches no host" in result.stderr


def test_no_policy_group_still_excludes_the_host(cli):
    text = _hosts(cli).read_text() + "    no_assets:\n      hosts: {demo-server: {}}\n"
    _hosts(cli).write_text(
        text.replace(
            "          ansible_connection: local\n",
            "          ansible_connection: local\n          note: !unsafe '{{ not templated }}'\n",
        )
    )
    result = cli("apply", "demo", "--check", "--json", "--policy", "assets")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["policies"]["assets"].endswith(":!no_assets")
    assert "no host of demo in scope for policy assets" in result.stderr
    run = cli.json("runs", "show", summary["run_id"])
    assert [t for t in run["tasks"] if t["policy"] == "assets"] == []
