"""The monitoring role's Alertmanager configuration, rendered with Ansible's own templating from
the role's templates and every tier's routing, assembled as the role does, and checked with
``amtool check-config``; then routed with ``amtool config routes test`` (who is paged)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from needs import unavailable

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "monitoring"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
EMAILS = {
    "none": {},
    "full": {
        "smarthost": "smtp.msp.example:587",
        "from": "alerts@msp.example",
        "username": "alerts",
        "password": "vault-secret",
        "page_to": "oncall@msp.example",
        "ticket_to": "tickets@msp.example",
        "digest_to": "digest@msp.example",
    },
    "page only": {
        "smarthost": "smtp:25",
        "from": "a@b.example",
        "require_tls": False,
        "page_to": "p@b.example",
    },
}


def _amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        unavailable("amtool not installed (scripts/setup-host installs prometheus-alertmanager)")
    return path


def render(template: str, variables: dict[str, Any]) -> str:
    """The role's template with its documented defaults, overridden by ``variables``."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    source = (ROLE / "templates" / template).read_text()
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    templar = Templar(
        loader=DataLoader(),
        variables={"ansible_managed": "Ansible managed", **defaults, **variables},
    )
    return str(templar.template(trust_as_template(source)))


@functools.cache
def _catalogue() -> Any:
    from mspctl.catalogue import Catalogue

    return Catalogue.load(ROOT / "tiers")


def tier_routing(name: str) -> dict[str, Any]:
    policies = _catalogue().get(name).data["policies"]["monitoring"]
    return {**DEFAULTS["monitoring_alert_routing"], **policies.get("alert_routing", {})}


def assemble(folder: Path, email: dict[str, Any], clients: dict[str, str], **more: Any) -> Path:
    """The parts the role writes, joined as ansible.builtin.assemble does (sorted file names)."""
    parts = folder / "parts"
    parts.mkdir()
    common = {
        "monitoring_server_config_dir": "/etc/prometheus/mspctl",
        "monitoring_alertmanager_config_file": "/etc/prometheus/alertmanager.yml",
        "monitoring_incidents_listen": DEFAULTS["monitoring_incidents_listen"],
        "monitoring_alertmanager": {"email": email, "page_webhooks": [], **more},
    }
    (parts / "00-main.yml").write_text(render("alertmanager.yml.j2", common))
    for client, tier in clients.items():
        variables = {
            **common,
            "monitoring_host": {"client": client},
            "mspctl_tier": tier,
            "monitoring_alert_routing": tier_routing(tier),
        }
        (parts / f"routes-{client}.yml").write_text(render("alertmanager-routes.yml.j2", variables))
    config = folder / "alertmanager.yml"
    config.write_text("".join(p.read_text() for p in sorted(parts.glob("*.yml"))))
    return config


def check(config: Path) -> str:
    done = subprocess.run(
        [_amtool(), "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr + config.read_text()
    return done.stdout


def route(config: Path, *labels: str) -> str:
    done = subprocess.run(
        [_amtool(), "config", "routes", "test", f"--config.file={config}", *labels],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("email", sorted(EMAILS))
@pytest.mark.parametrize("tier", ["bronze", "silver", "gold", "platinum"])
def test_every_tier_and_email_setting_passes_amtool(tmp_path: Path, tier: str, email: str) -> None:
    out = check(assemble(tmp_path, EMAILS[email], {"acme": tier, "bakery": "bronze"}))
    assert "3 receivers" in out
    assert "2 inhibit rules" in out


def test_no_client_yet_is_a_valid_configuration(tmp_path: Path) -> None:
    check(assemble(tmp_path, {}, {}))


def test_pages_tickets_and_digest(tmp_path: Path) -> None:
    config = assemble(
        tmp_path, EMAILS["full"], {"acme": "platinum"}, page_webhooks=["https://pager.example/hook"]
    )
    check(config)
    assert (
        route(config, "mspctl_client=acme", "severity=critical", "alertname=MspctlHostDown")
        == "mspctl-page"
    )
    assert (
        route(config, "mspctl_client=acme", "severity=warning", "alertname=MspctlDiskFull")
        == "mspctl-ticket"
    )
    assert (
        route(config, "mspctl_client=acme", "severity=info", "alertname=MspctlRebootRequired")
        == "mspctl-digest"
    )
    # a client without routes of its own (never applied): the ticket queue, never lost
    assert route(config, "mspctl_client=other", "severity=critical") == "mspctl-ticket"
    data = yaml.safe_load(config.read_text())
    receivers = {r["name"]: r for r in data["receivers"]}
    page = receivers["mspctl-page"]
    assert [w["url"] for w in page["webhook_configs"]] == [
        "http://127.0.0.1:9095/alerts",
        "https://pager.example/hook",
    ]
    assert page["email_configs"][0]["to"] == "oncall@msp.example"
    assert "webhook_configs" not in receivers["mspctl-digest"]  # advisories are no incidents
    acme = data["route"]["routes"][0]
    critical = acme["routes"][0]
    assert (critical["group_wait"], critical["repeat_interval"]) == ("10s", "1h")  # platinum
    assert acme["routes"][2]["group_interval"] == "24h"  # the daily digest


def test_host_down_inhibits_the_host_s_other_alerts(tmp_path: Path) -> None:
    data = yaml.safe_load(check_and_read(tmp_path))
    down = data["inhibit_rules"][0]
    assert down["source_matchers"] == ['alertname="MspctlHostDown"']
    assert down["equal"] == ["mspctl_client", "instance"]


def check_and_read(tmp_path: Path) -> str:
    config = assemble(tmp_path, {}, {"acme": "gold"})
    check(config)
    return config.read_text()


def test_prometheus_points_at_the_managed_alertmanager(tmp_path: Path) -> None:
    text = render(
        "prometheus.yml.j2",
        {
            "monitoring_server_alertmanagers": ["127.0.0.1:9093"],
            "monitoring_server_config_dir": "/etc/prometheus/mspctl",
        },
    )
    data = yaml.safe_load(text)
    assert data["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:9093"
    ]
