"""Every bad input: one line naming the file and the key, exit 3, nothing run or recorded."""

from __future__ import annotations

import json
import re

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
    _assert_bad(
        cli("apply", "demo", "--tier", "bronze", "--policy", "printers"), "not part of tier bronze"
    )
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
    _assert_bad(
        cli("clients", "show", "demo"), "inventories/demo/client.yml", "colour", "unknown key"
    )


def test_unknown_key_in_tier(cli):
    path = cli.project / "tiers/silver.yml"
    old = "  onsite_callout_discount_percent: 10"
    path.write_text(path.read_text().replace(old, old + "\n  free_lunch: true"))
    _assert_bad(
        cli("tiers", "show", "gold"), "tiers/silver.yml", "contract.free_lunch", "unknown key"
    )


def test_unknown_role_parameter_in_tier(cli):
    path = cli.project / "tiers/gold.yml"
    path.write_text(
        path.read_text().replace(
            "    warranty_tracking: true", "    warranty_tracking: true\n    colour: red"
        )
    )
    _assert_bad(
        cli("tiers", "show", "platinum"),
        "tiers/gold.yml",
        "policies.assets.colour",
        "unknown parameter",
    )


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            "  onsite_callout_discount_percent: 50",
            "  onsite_callout_discount_percent: half",
            "contract.onsite_callout_discount_percent",
        ),
        (
            "  all_inclusive_assistance: true",
            '  all_inclusive_assistance: "yes"',
            "contract.all_inclusive_assistance",
        ),
        ("    servers: 1\n", "    servers: soon\n", "contract.first_response_hours.servers"),
        (
            "  printers:\n    enabled: true",
            "  printers:\n    enabled: 1",
            "policies.printers.enabled",
        ),
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
    _assert_bad(
        cli("tiers", "show", "platinum"), "tiers/gold.yml", "extends", "unknown tier 'copper'"
    )


def test_circular_extends(cli):
    path = cli.project / "tiers/bronze.yml"
    path.write_text(path.read_text().replace("name: bronze", "name: bronze\nextends: gold"))
    _assert_bad(cli("tiers", "show", "silver"), "extends", "circular inheritance")
    _assert_bad(cli("apply", "demo", "--tier", "gold"), "circular inheritance")
    _nothing_recorded(cli)


def test_trial_ending_before_start(cli):
    path = cli.project / "inventories/demo/client.yml"
    path.write_text(re.sub(r"\n    end: \S+", "\n    end: 2026-10-01", path.read_text()))
    _assert_bad(
        cli("apply", "demo"), "inventories/demo/client.yml", "contract.trial", "before its start"
    )
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
    _assert_bad(
        cli("clients", "show", "demo"), "inventories/demo/hosts.yml", "line 5", "invalid YAML"
    )
    _assert_bad(cli("apply", "demo"), "inventories/demo/hosts.yml")
    _nothing_recorded(cli)


def test_hosts_file_ansible_refuses_is_never_half_parsed(cli):
    """Valid YAML that Ansible's inventory plugin refuses: exit 3, not a partial inventory."""
    path = cli.project / "inventories/demo/hosts.yml"
    path.write_text(
        "all:\n  children:\n    servers:\n      hosts:\n        a: {}\n"
        "    workstations:\n      hosts: 1\n"
    )
    _assert_bad(
        cli("clients", "show", "demo"), "inventories/demo/hosts.yml", "requires a dictionary"
    )
    _assert_bad(cli("apply", "demo"), "inventories/demo/hosts.yml")
    _nothing_recorded(cli)


def test_part_of_the_hosts_file_ansible_would_skip(cli):
    path = cli.project / "inventories/demo/hosts.yml"
    typo = "    workstations:\n      host: {demo-ws: {}}\n"  # hosts, misspelt
    path.write_text(path.read_text().replace("    workstations:\n", typo))
    _assert_bad(
        cli("clients", "show", "demo"),
        "inventories/demo/hosts.yml",
        "unexpected key (host) in group (workstations)",
    )


def test_broken_yaml_in_group_vars(cli):
    group_vars = cli.project / "inventories/demo/group_vars"
    group_vars.mkdir()
    (group_vars / "all.yml").write_text("ntp_servers: [a, b\nlocale: C\n")
    _assert_bad(cli("clients", "show", "demo"), "inventories/demo/group_vars/all.yml", "line 2")
    _assert_bad(cli("apply", "demo"), "inventories/demo/group_vars/all.yml")


def test_broken_yaml_in_host_vars(cli):
    (cli.project / "inventories/demo/host_vars/demo-server.yml").write_text("a: {b\n")
    _assert_bad(cli("clients", "list"), "inventories/demo/host_vars/demo-server.yml")


def test_invalid_database_url(cli):
    cli.env["MSPCTL_DB_URL"] = "nosuchdb://x"
    _assert_bad(cli("runs", "list"), "MSPCTL_DB_URL")


def test_limit_matching_no_host(cli):
    _assert_bad(
        cli("apply", "demo", "--limit", "nosuchhost"), "--limit nosuchhost", "matches no host"
    )
    _nothing_recorded(cli)


def _declare_secret(project):
    spec = project / "roles/assets/meta/argument_specs.yml"
    spec.write_text(
        spec.read_text()
        + (
            "      assets_api_token:\n"
            "        type: str\n"
            "        no_log: true\n"
            "        description: A secret, for this test.\n"
        )
    )


def test_missing_secret(cli):
    _declare_secret(cli.project)
    _assert_bad(
        cli("apply", "demo"),
        "inventories/demo/",
        "assets_api_token",
        "missing secret for demo-server",
    )
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
            "assets_api_token: !vault |\n" + "".join(f"  {line}\n" for line in blob.splitlines())
        )
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
    _assert_bad(cli("apply", "demo", "--vault-password-file", str(wrong)), "wrong vault password")
    _assert_bad(
        cli("apply", "demo", "--vault-password-file", str(tmp_path / "none")),
        "vault password file not found",
    )
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
    path.write_text(
        text.replace(
            "        name: openssh-server\n",
            "        name: openssh-server\n        colour: red\n",
            1,
        )
    )
    _assert_bad(
        cli("tiers", "show", "bronze"),
        "tiers/bronze.yml",
        "policies.baseline.controls.colour",
        "unknown parameter",
    )


def test_force_window_needs_the_patching_policy(cli):
    _assert_bad(
        cli("apply", "demo", "--policy", "assets", "--force-window"),
        "--force-window",
        "patching is not part of this run",
    )


# -- issue 9: the loader, tier windows, names, dates on the command line ---------------------
def _edit(cli, file, old, new):
    """Replace the first ``old`` (which must be there) in a project file."""
    path = cli.project / file
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_duplicate_key_in_tier(cli):
    path = cli.project / "tiers/gold.yml"
    path.write_text(path.read_text() + "\npolicies:\n  patching:\n    scope: security\n")
    _assert_bad(
        cli("tiers", "show", "platinum"),
        "tiers/gold.yml",
        "policies",
        "duplicate key 'policies'",
        "line",
    )


def test_duplicate_expires_in_waiver(cli):
    (cli.project / "inventories/demo/waivers.yml").write_text(
        "waivers:\n  - control: assets.*\n    hosts: [all]\n    justification: a good reason\n"
        "    approved_by: Jane\n    expires: 2027-01-31\n    expires: 2099-01-31\n"
    )
    _assert_bad(
        cli("report", "demo"),
        "inventories/demo/waivers.yml",
        "waivers[0].expires",
        "duplicate key 'expires'",
        "line 7",
    )
    _nothing_recorded(cli)


def test_duplicate_group_in_inventory(cli):
    path = cli.project / "inventories/demo/hosts.yml"
    path.write_text(path.read_text() + "    nas:\n      hosts: {}\n")
    _assert_bad(
        cli("clients", "show", "demo"),
        "inventories/demo/hosts.yml",
        "all.children.nas",
        "duplicate key 'nas'",
    )


def test_invalid_date_names_file_line_and_key(cli):
    _edit(cli, "inventories/demo/client.yml", "start: 2026-01-05", "start: 2026-02-30")
    _assert_bad(
        cli("apply", "demo"),
        "inventories/demo/client.yml",
        "contract.start",
        "invalid date '2026-02-30'",
        "line 9",
    )
    _nothing_recorded(cli)


def test_alias_bomb_is_refused_quickly(cli):
    levels = ["a0: &a0 [" + ", ".join(["lol"] * 10) + "]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    path = cli.project / "inventories/demo/group_vars/all.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(levels) + "\n")
    _assert_bad(
        cli("clients", "show", "demo"), "inventories/demo/group_vars/all.yml", "aliases expand"
    )


def test_recursive_alias(cli):
    path = cli.project / "tiers/bronze.yml"
    path.write_text(path.read_text() + "\nloop: &r [*r]\n")
    _assert_bad(cli("tiers", "list"), "tiers/bronze.yml", "loop", "recursive alias")


def test_not_utf8(cli):
    path = cli.project / "inventories/demo/host_vars/demo-server.yml"
    path.write_bytes(path.read_bytes() + b"note: caf\xe9\n")
    _assert_bad(
        cli("clients", "show", "demo"), "inventories/demo/host_vars/demo-server.yml", "not UTF-8"
    )


def test_non_string_host_name(cli):
    _edit(cli, "inventories/demo/hosts.yml", "      hosts: {}\n", "      hosts: {1234: {}}\n")
    _assert_bad(
        cli("clients", "show", "demo"),
        "inventories/demo/hosts.yml",
        "workstations.hosts.1234",
        "must be a string",
    )


def test_huge_value_is_not_echoed(cli):
    _edit(
        cli,
        "tiers/platinum.yml",
        "onsite_callout_discount_percent: 50",
        f"onsite_callout_discount_percent: {'x' * 5_000_000}",
    )
    result = cli("tiers", "show", "platinum")
    _assert_bad(result, "tiers/platinum.yml", "contract.onsite_callout_discount_percent", "…")
    assert len(result.stderr) < 500


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ('start: "22:00"', 'start: "25:00"', "windows.servers.start", "not a valid time"),
        ("duration: 4h", "duration: -4h", "windows.servers.duration", "'-4h'"),
        ("days: [sat]", "days: [funday]", "windows.servers.days", "unknown day 'funday'"),
        ("duration: 2h", "duration: 25h", "reboot_window.duration", "at most 24h"),
        (
            "blackout_dates: []",
            "blackout_dates: [{from: 2026-12-24, to: 2026-12-20}]",
            "blackout_dates",
            "inverted range",
        ),
    ],
)
def test_invalid_patch_window_in_tier(cli, old, new, key, message):
    _edit(cli, "tiers/silver.yml", old, new)
    for args in (("tiers", "list"), ("tiers", "show", "platinum"), ("apply", "demo")):
        _assert_bad(cli(*args), "tiers/silver.yml", f"policies.patching.{key}", message)
    _nothing_recorded(cli)


def test_incomplete_window_names_the_file_that_set_it(cli):
    _edit(cli, "tiers/silver.yml", '        start: "19:00"\n', "")
    _assert_bad(
        cli("tiers", "show", "gold"),
        "tiers/silver.yml",
        "policies.patching.windows.workstations.start",
        "is required",
    )


def test_cycle_is_blamed_on_the_file_that_closed_it(cli):
    _edit(cli, "tiers/bronze.yml", "name: bronze", "name: bronze\nextends: silver")
    for tier in ("platinum", "gold", "silver", "bronze"):
        _assert_bad(
            cli("tiers", "show", tier),
            "tiers/bronze.yml: extends",
            "circular inheritance: bronze -> silver -> bronze",
        )


@pytest.mark.parametrize("name", ["[bold]Bakery", "Bad [/] name", "[/bold]", "x[link=y]z"])
def test_markup_in_names_prints_literally(cli, name):
    path = cli.project / "inventories/demo/client.yml"
    path.write_text(path.read_text().replace("name: Demo Bakery", f'name: "{name}"'))
    # (a bracket in a host name is an Ansible host range: hosts.yml refuses it, exit 3)
    for args in (("clients", "show", "demo"), ("clients", "list")):
        result = cli(*args)
        assert result.exit_code == 0, result.output
        assert name in result.stdout


def test_control_characters_never_reach_the_terminal(cli):
    path = cli.project / "inventories/demo/client.yml"
    path.write_text(path.read_text().replace("name: Demo Bakery", 'name: "Demo\\e[31m\\a\\0"'))
    result = cli("clients", "show", "demo")
    assert result.exit_code == 0, result.output
    assert "Demo\\x1b[31m\\x07\\x00" in result.stdout
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout


def test_unknown_key_with_control_characters_is_one_escaped_line(cli):
    path = cli.project / "inventories/demo/client.yml"
    path.write_text(path.read_text() + '"evil\\e[2J\\nline": 1\n')
    result = cli("clients", "show", "demo")
    _assert_bad(result, "inventories/demo/client.yml", "evil\\x1b[2J", "unknown key")
    assert "\x1b" not in result.stderr


@pytest.mark.parametrize("option", ["--to", "--from"])
@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2026-02-30"])
def test_out_of_range_dates_on_the_command_line(cli, option, day):
    result = cli("diff", "demo", option, day)
    _assert_bad(result, day if option == "--to" else "demo")
    assert "internal error" not in result.stderr


def test_one_broken_client_does_not_hide_the_others(cli):
    broken = cli.project / "inventories/broken"
    broken.mkdir()
    (broken / "client.yml").write_text("name: [unclosed\n")
    (broken / "hosts.yml").write_text("all: {}\n")
    result = cli("clients", "list", "--json")
    _assert_bad(result, "inventories/broken/client.yml", "invalid YAML")
    assert [row["client"] for row in json.loads(result.stdout)] == ["demo"]
    result = cli("clients", "list")
    _assert_bad(result, "inventories/broken/client.yml")
    assert "demo" in result.stdout


def test_clients_new_refuses_a_trailing_newline(cli):
    _assert_bad(cli("clients", "new", "acme\n", "--tier", "gold"), "lower-case letters")
    assert not list((cli.project / "inventories").glob("acme*"))


def test_clients_new_leaves_nothing_half_written(cli, monkeypatch):
    import mspctl.scaffold

    def fail(directory, **kwargs):
        (directory / "group_vars").mkdir(parents=True)
        (directory / "client.yml").write_text("half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mspctl.scaffold, "write_client", fail)
    _assert_bad(
        cli("clients", "new", "acme", "--tier", "gold"),
        "inventories/acme",
        "No space left on device",
    )
    assert sorted(p.name for p in (cli.project / "inventories").iterdir()) == ["demo"]
    monkeypatch.undo()
    result = cli("clients", "new", "acme", "--tier", "gold")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (cli.project / "inventories").iterdir()) == ["acme", "demo"]


def test_control_characters_in_findings_and_unwritable_report_paths(cli, tmp_path):
    """A real run whose finding evidence carries control characters: the JUnit report stays
    valid XML, nothing raw reaches the terminal, and bad ``-o`` paths write nothing."""
    import xml.etree.ElementTree as ET

    import yaml

    evil = "DEMO\x1b[31m\x00\x07[/]"
    (cli.project / "inventories/demo/host_vars/demo-server.yml").write_text(
        yaml.safe_dump(
            {
                "assets_warranty": {
                    "purchase_date": "2020-01-01",
                    "warranty_end": "2021-01-01",
                    "vendor_contract": evil,
                }
            }
        )
    )
    result = cli("apply", "demo", "--json", "--policy", "assets")
    assert result.exit_code == 0, result.output
    junit = cli("report", "demo", "--format", "junit")
    assert junit.exit_code == 0, junit.output
    assert "DEMO\\u001b[31m\\u0000\\u0007[/]" in junit.stdout  # the evidence, as JSON
    ET.fromstring(junit.stdout.encode())  # well-formed XML
    for fmt in ("md", "junit", "sarif", "json"):
        shown = cli("report", "demo", "--format", fmt)
        assert shown.exit_code == 0, shown.output
        assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout, fmt
    for path in (tmp_path / "missing" / "r.md", tmp_path, cli.project / "inventories"):
        _assert_bad(cli("report", "demo", "-o", str(path)), str(path))
    assert not (tmp_path / "missing").exists()
    assert not list(tmp_path.glob(".*.tmp"))
    _assert_bad(cli("diff", "demo", "--to", "9999-12-31"), "demo")
