"""Clients that leave: their Alertmanager routes disappear on the next monitoring run.

``mspctl apply`` passes the clients it serves (``mspctl_alerting_clients``: in the
inventories, with the monitoring policy in their tier); the monitoring role's
``alertmanager-prune.yml`` runs for real (ansible-playbook on this machine, the MSP monitoring
host being ``localhost``) over the parts folder, and the assembled result is checked with
``amtool check-config`` and routed with ``amtool config routes test``."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from local_playbook import run_local_playbook
from test_monitoring_alertmanager import ROLE, check, render, route, tier_routing

from mspctl.incidents.routing import alerting_clients
from mspctl.workspace import Workspace

ROOT = ROLE.parents[1]
PLAYBOOK = """\
- name: Prune the Alertmanager routes as a monitoring run does
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the role's pruning tasks
      ansible.builtin.include_role:
        name: monitoring
        tasks_from: alertmanager-prune.yml
"""


def write_parts(parts: Path, clients: dict[str, str]) -> None:
    """The parts the role writes: the main part and one routes file per client (its tier)."""
    common: dict[str, Any] = {
        "monitoring_server_config_dir": str(parts.parent),
        "monitoring_alertmanager_config_file": str(parts.parent / "alertmanager.yml"),
        "monitoring_incidents_listen": "127.0.0.1:9095",
        "monitoring_alertmanager": {
            "email": {"smarthost": "smtp:25", "from": "a@b.example", "page_to": "p@b.example"},
            "page_webhooks": [],
        },
    }
    parts.mkdir(parents=True)
    (parts / "00-main.yml").write_text(render("alertmanager.yml.j2", common))
    for client, tier in clients.items():
        variables = {
            **common,
            "monitoring_host": {"client": client},
            "mspctl_tier": tier,
            "monitoring_alert_routing": tier_routing(tier),
        }
        (parts / f"routes-{client}.yml").write_text(render("alertmanager-routes.yml.j2", variables))


def prune(
    folder: Path, this_client: str, served: list[str] | None
) -> subprocess.CompletedProcess[str]:
    playbook = folder / "prune.yml"
    playbook.write_text(PLAYBOOK)
    extra: dict[str, Any] = {
        "monitoring_server": "localhost",
        "monitoring_server_config_dir": str(folder),
        "monitoring_host": {"client": this_client},
    }
    if served is not None:
        extra["mspctl_alerting_clients"] = served
    done = run_local_playbook(
        playbook,
        folder / ".ansible",
        "-e",
        yaml.safe_dump(extra, default_flow_style=True, width=10_000).strip(),
        env={"ANSIBLE_ROLES_PATH": str(ROOT / "roles")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def assemble(folder: Path) -> Path:
    """The parts joined as ansible.builtin.assemble does (sorted file names)."""
    config = folder / "alertmanager.yml"
    parts = sorted((folder / "alertmanager").glob("*.yml"))
    config.write_text("".join(p.read_text() for p in parts))
    return config


def client_routes(config: Path) -> list[str]:
    routes = yaml.safe_load(config.read_text())["route"].get("routes") or []
    return [r["matchers"][0] for r in routes]


@pytest.mark.slow
def test_a_client_no_longer_served_loses_its_routes(tmp_path: Path) -> None:
    write_parts(tmp_path / "alertmanager", {"acme": "platinum", "gone": "gold", "off": "bronze"})
    before = assemble(tmp_path)
    check(before)
    assert route(before, "mspctl_client=gone", "severity=critical") == "mspctl-page"

    # acme's run: gone left the inventories, off's tier has no monitoring any more
    done = prune(tmp_path, "acme", ["acme", "other"])
    assert "changed=1" in done.stdout, done.stdout
    assert sorted(p.name for p in (tmp_path / "alertmanager").iterdir()) == [
        "00-main.yml",
        "routes-acme.yml",
    ]
    after = assemble(tmp_path)
    out = check(after)
    assert "3 receivers" in out
    assert client_routes(after) == ['mspctl_client="acme"']
    assert route(after, "mspctl_client=acme", "severity=critical") == "mspctl-page"
    # the leaver's alerts, if any still came, reach the ticket queue: never a page
    assert route(after, "mspctl_client=gone", "severity=critical") == "mspctl-ticket"

    # converged: the next run removes nothing
    again = prune(tmp_path, "acme", ["acme", "other"])
    assert "changed=0" in again.stdout, again.stdout


def test_the_clients_served_are_those_whose_tier_has_monitoring(
    cli: Any, project: Path, home: Path
) -> None:
    for slug, tier in (("acme", "platinum"), ("bakery", "bronze"), ("quiet", "gold")):
        result = cli("clients", "new", slug, "--tier", tier, "--timezone", "Europe/Rome")
        assert result.exit_code == 0, result.output
    workspace = Workspace(project_dir=project, home=home)
    assert {"acme", "bakery", "quiet"} <= set(alerting_clients(workspace))
    # a tier without the monitoring policy
    (project / "tiers" / "unmonitored.yml").write_text(
        yaml.safe_dump(
            {
                "name": "unmonitored",
                "extends": "gold",
                "title": "Gold without monitoring",
                "summary": "A tier whose clients are not watched.",
                "policies": {"monitoring": {"enabled": False}},
            }
        )
    )
    client = project / "inventories" / "quiet" / "client.yml"
    client.write_text(client.read_text().replace("tier: gold", "tier: unmonitored"))
    # the answer is kept for the next run in the same process, until a client or tier changes
    served = alerting_clients(Workspace(project_dir=project, home=home))
    assert "quiet" not in served
    assert {"acme", "bakery"} <= set(served)
