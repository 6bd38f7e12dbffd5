"""Every bad input: one line naming the file and the key, exit 3, nothing run or recorded."""

from __future__ import annotations

import pytest


def _assert_bad(result, *fragments):
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _nothing_recorded(cli):
    assert not (cli.home / "mspctl.db").exists()
    assert not (cli.home / "runs").exists()


def test_unknown_client(cli):
    _assert_bad(cli("apply", "nobody"), "unknown client 'nobody'", "demo")
    _nothing_recorded(cli)


def test_unknown_tier(cli):
    _assert_bad(cli("apply", "demo", "--tier", "diamond"), "unknown tier 'diamond'")
    _assert_bad(cli("tiers", "show", "diamond"), "unknown tier 'diamond'")
    _nothing_recorded(cli)


def test_usage_error_is_bad_input(cli):
    result = cli("apply")
    assert result.exit_code == 3, result.output
    assert "Missing argument 'CLIENT'" in result.output


def test_unknown_policy(cli):
    _assert_bad(cli("apply", "demo", "--policy", "coffee"), "--policy", "unknown policy 'coffee'")
    _assert_bad(cli("apply", "demo", "--tier", "bronze", "--policy", "printers"),
                "not part of tier bronze")
    _nothing_recorded(cli)


def test_malformed_yaml_in_client(cli):
    (cli.project / "inventories/demo/client.yml").write_text("name: [unclosed\n")
    _assert_bad(cli("apply", "demo"), "inventories/demo/client.yml", "invalid YAML", "line 2")
    _nothing_recorded(cli)


def test_malformed_yaml_in_tier(cli):
    path = cli.project / "tiers/gold.yml"
    path.write_text(path.read_text() + "\n  bad: : indent\n")
    _assert_bad(cli("apply", "demo", "--tier", "platinum"), "tiers/gold.yml", "invalid YAML")
    _nothing_recorded(cli)


def test_unknown_key_in_client(cli):
    path = cli.project / "inventories/demo/client.yml"
    path.write_text(path.read_text().replace("timezone:", "colour: blue\ntimezone:"))
    _assert_bad(cli("clients", "show", "demo"), "inventories/demo/client.yml", "colour",
                "unknown key")


def test_unknown_key_in_tier(cli):
    path = cli.project / "tiers/silver.yml"
    old = "  onsite_callout_discount_percent: 10"
    path.write_text(path.read_text().replace(old, old + "\n  free_lunch: true"))
    _assert_bad(cli("tiers", "show", "gold"), "tiers/silver.yml", "contract.free_lunch",
                "unknown key")


def test_unknown_role_parameter_in_tier(cli):
    path = cli.project / "tiers/gold.yml"
    path.write_text(path.read_text().replace("    warranty_tracking: true",
                                             "    warranty_tracking: true\n    colour: red"))
    _assert_bad(cli("tiers", "show", "platinum"), "tiers/gold.yml", "policies.assets.colour",
                "unknown parameter")


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("  onsite_callout_discount_percent: 50", "  onsite_callout_discount_percent: half",
         "contract.onsite_callout_discount_percent"),
        ("  all_inclusive_assistance: true", "  all_inclusive_assistance: \"yes\"",
         "contract.all_inclusive_assistance"),
        ("    servers: 1\n", "    servers: soon\n", "contract.first_response_hours.servers"),
        ("  printers:\n    enabled: true", "  printers:\n    enabled: 1",
         "policies.printers.enabled"),
    ],
)
def test_wrong_types_in_tier(cli, old, new, key):
    path = cli.project / "tiers/platinum.yml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    _assert_bad(cli("apply", "demo", "--tier", "platinum"), "tiers/platinum.yml", key)
    _nothing_recorded(cli)


def test_wrong_role_parameter_type(cli):
    path = cli.project / "tiers/bronze.yml"
    path.write_text(path.read_text().replace("collect_packages: true", "collect_packages: [1]"))
    _assert_bad(cli("tiers", "show", "bronze"), "tiers/bronze.yml", "policies.assets")


def test_extends_missing_tier(cli):
    path = cli.project / "tiers/gold.yml"
    path.write_text(path.read_text().replace("extends: silver", "extends: copper"))
    _assert_bad(cli("tiers", "show", "platinum"), "tiers/gold.yml", "extends",
                "unknown tier 'copper'")


def test_circular_extends(cli):
    path = cli.project / "tiers/bronze.yml"
    path.write_text(path.read_text().replace("name: bronze", "name: bronze\nextends: gold"))
    _assert_bad(cli("tiers", "show", "silver"), "extends", "circular inheritance")
    _assert_bad(cli("apply", "demo", "--tier", "gold"), "circular inheritance")
    _nothing_recorded(cli)


def test_trial_ending_before_start(cli):
    path = cli.project / "inventories/demo/client.yml"
    path.write_text(path.read_text().replace("end: 2026-12-30", "end: 2026-10-01"))
    _assert_bad(cli("apply", "demo"), "inventories/demo/client.yml", "contract.trial",
                "before its start")
    _nothing_recorded(cli)


def test_trial_of_unknown_tier(cli):
    path = cli.project / "inventories/demo/client.yml"
    path.write_text(path.read_text().replace("    tier: platinum", "    tier: diamond"))
    _assert_bad(cli("clients", "show", "demo"), "contract.trial.tier", "unknown tier")


def test_unknown_time_zone(cli):
    path = cli.project / "inventories/demo/client.yml"
    path.write_text(path.read_text().replace("Europe/Paris", "Mars/Olympus"))
    _assert_bad(cli("apply", "demo"), "client.yml", "timezone", "unknown time zone")


def test_broken_inventory(cli):
    path = cli.project / "inventories/demo/hosts.yml"
    path.write_text("all:\n  children:\n    servers:\n      hosts: [a, b]\n")
    _assert_bad(cli("apply", "demo"), "inventories/demo/hosts.yml")
    _nothing_recorded(cli)


def test_hosts_file_ansible_cannot_parse(cli):
    path = cli.project / "inventories/demo/hosts.yml"
    path.write_text("all:\n  children:\n    servers:\n      hosts:\n        a: {x: [1, 2}\n")
    _assert_bad(cli("clients", "show", "demo"), "inventories/demo/hosts.yml:5",
                "YAML parsing failed")
    _assert_bad(cli("apply", "demo"), "inventories/demo/hosts.yml")
    _nothing_recorded(cli)


def test_part_of_the_hosts_file_ansible_would_skip(cli):
    path = cli.project / "inventories/demo/hosts.yml"
    typo = "    workstations:\n      host: {demo-ws: {}}\n"  # hosts, misspelt
    path.write_text(path.read_text().replace("    workstations:\n", typo))
    _assert_bad(cli("clients", "show", "demo"), "inventories/demo/hosts.yml",
                "unexpected key (host) in group (workstations)")


def test_broken_yaml_in_group_vars(cli):
    group_vars = cli.project / "inventories/demo/group_vars"
    group_vars.mkdir()
    (group_vars / "all.yml").write_text("ntp_servers: [a, b\nlocale: C\n")
    _assert_bad(cli("clients", "show", "demo"), "inventories/demo/group_vars/all.yml:2")
    _assert_bad(cli("apply", "demo"), "inventories/demo/group_vars/all.yml")


def test_broken_yaml_in_host_vars(cli):
    (cli.project / "inventories/demo/host_vars/demo-server.yml").write_text("a: {b\n")
    _assert_bad(cli("clients", "list"), "inventories/demo/host_vars/demo-server.yml")


def test_invalid_database_url(cli):
    cli.env["MSPCTL_DB_URL"] = "nosuchdb://x"
    _assert_bad(cli("runs", "list"), "MSPCTL_DB_URL")


def test_limit_matching_no_host(cli):
    _assert_bad(cli("apply", "demo", "--limit", "nosuchhost"), "--limit nosuchhost",
                "matches no host")
    _nothing_recorded(cli)


def _declare_secret(project):
    spec = project / "roles/assets/meta/argument_specs.yml"
    spec.write_text(spec.read_text() + (
        "      assets_api_token:\n"
        "        type: str\n"
        "        no_log: true\n"
        "        description: A secret, for this test.\n"
    ))


def test_missing_secret(cli):
    _declare_secret(cli.project)
    _assert_bad(cli("apply", "demo"), "inventories/demo/", "assets_api_token",
                "missing secret for demo-server")
    _nothing_recorded(cli)


VAULT_PASSWORD = b"correct horse"


def _write_vault(project, *, inline: bool, value: str) -> None:
    """The demo's secret in group_vars/all/vault.yml: a vaulted file or an inline !vault value."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    _declare_secret(project)
    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD))])
    target = project / "inventories/demo/group_vars/all"
    target.mkdir(parents=True)
    if inline:
        blob = vault.encrypt(value).decode()
        (target / "vault.yml").write_text(
            "assets_api_token: !vault |\n" + "".join(f"  {line}\n" for line in blob.splitlines()))
    else:
        (target / "vault.yml").write_bytes(vault.encrypt(f"assets_api_token: {value}\n"))


def test_inline_vaulted_secret(cli, tmp_path):
    _write_vault(cli.project, inline=True, value="inline-s3cr3t")
    _assert_bad(cli("apply", "demo"), "inventories/demo/", "no vault password")
    good = cli.home / "vault" / "demo.pass"
    good.parent.mkdir(parents=True)
    good.write_text("correct horse\n")
    result = cli("apply", "demo", "--json", "--policy", "assets")
    assert result.exit_code == 0, result.output


def test_vaulted_secret_without_vault_password(cli, tmp_path):
    _write_vault(cli.project, inline=False, value="s3cr3t-value")
    _assert_bad(cli("apply", "demo"), "inventories/demo/", "no vault password")
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("battery staple\n")
    _assert_bad(cli("apply", "demo", "--vault-password-file", str(wrong)),
                "wrong vault password")
    _assert_bad(cli("apply", "demo", "--vault-password-file", str(tmp_path / "none")),
                "vault password file not found")
    _nothing_recorded(cli)
    good = cli.home / "vault" / "demo.pass"
    good.parent.mkdir(parents=True)
    good.write_text("correct horse\n")
    result = cli("apply", "demo", "--json", "--policy", "assets")
    assert result.exit_code == 0, result.output
    runs_dir = cli.home / "runs"
    leaked = [p for p in runs_dir.rglob("*") if p.is_file() and b"s3cr3t-value" in p.read_bytes()]
    assert leaked == []
    assert b"s3cr3t-value" not in (cli.home / "mspctl.db").read_bytes()


def test_unknown_key_inside_a_list_of_role_parameters(cli):
    path = cli.project / "tiers/bronze.yml"
    text = path.read_text()
    assert "        name: openssh-server\n" in text
    path.write_text(text.replace("        name: openssh-server\n",
                                 "        name: openssh-server\n        colour: red\n", 1))
    _assert_bad(cli("tiers", "show", "bronze"), "tiers/bronze.yml",
                "policies.baseline.controls.colour", "unknown parameter")


def test_force_window_needs_the_patching_policy(cli):
    _assert_bad(cli("apply", "demo", "--policy", "assets", "--force-window"), "--force-window",
                "patching is not part of this run")
