"""Which hosts each policy is retired from (mspctl.retire), on a real Ansible inventory."""

from __future__ import annotations

import yaml

from mspctl.engine import ApplyRequest, plan
from mspctl.retire import retire_targets
from mspctl.workspace import Workspace

HOSTS = {
    "all": {
        "vars": {  # the secrets the tier's policies require (plain: a test inventory)
            "backup_agent_password": "test-only",
            "network_username": "test-only",
            "network_password": "test-only",
        },
        "hosts": {
            "win": {"ansible_connection": "winrm"},
            "sw": {"ansible_network_os": "cisco.ios.ios"},
            "sw2": {"network_device_type": "cisco_ios"},  # the network policy's own variable
            "nas2": {"ansible_connection": "local"},  # an SNMP-polled NAS: nothing runs on it
        },
        "children": {
            "servers": {"hosts": {"srv": {}, "vend": {}}},
            "workstations": {"hosts": {"ws": {}, "win": {}}},
            "nas": {"hosts": {"nas1": {}, "nas2": {}}},
            "snmp": {"hosts": {"nas2": {}}},
            "network": {"hosts": {"sw": {}, "sw2": {}}},
            "msp_monitoring": {"hosts": {"msp": {}}},  # the MSP's own host: never a client host
            "no_patching": {"hosts": {"vend": {}}},  # vendor-managed: neither applied nor retired
        },
    }
}


def workspace(project, home) -> Workspace:
    folder = project / "inventories" / "acme"
    folder.mkdir()
    (folder / "hosts.yml").write_text(yaml.safe_dump(HOSTS))
    contract = {"tier": "gold", "start": "2026-01-05"}
    client = {"name": "Acme", "timezone": "Europe/Paris", "contract": contract}
    (folder / "client.yml").write_text(yaml.safe_dump(client))
    return Workspace(project_dir=project, home=home, db_url=f"sqlite:///{home / 'db.sqlite'}")


def test_each_policy_leaves_the_client_hosts_outside_its_scope(project, home):
    ws = workspace(project, home)
    client = ws.clients.get("acme")
    gold = ws.catalogue.get("gold").tier
    scope = {name: gold.host_pattern(name) for name in gold.enabled_policies}
    scope["patching"] += ":!no_patching"  # as engine.plan writes it
    view = client.inventory_view()
    targets = retire_targets(client, view, scope)
    # printers left gold: every Linux host with a class (not Windows, not the switch, not msp)
    assert targets == {
        "printers": ["nas1", "srv", "vend", "ws"],
        "backup_agent": ["ws"],  # servers and NAS only
        "patching": ["nas1"],  # servers and workstations only
    }
    assert retire_targets(client, view, scope, policies=("backup_agent",)) == {
        "backup_agent": ["ws"]
    }
    assert retire_targets(client, view, scope, limit="srv") == {"printers": ["srv"]}
    # offboarding: nothing in scope, every policy leaves every host but the hands-off ones
    everything = retire_targets(client, view, {})
    assert everything["patching"] == ["nas1", "srv", "ws"]
    assert everything["network"] == ["sw", "sw2"]
    assert everything["assets"] == ["nas1", "srv", "vend", "ws"]
    # an SNMP device runs nothing of any policy (its connection is local: a retire path there
    # would run on the controller), and a netmiko switch only the network policy
    assert not any("nas2" in hosts for hosts in everything.values()), everything
    assert not any("sw2" in hosts for name, hosts in everything.items() if name != "network")


def test_a_plan_passes_the_retire_targets_and_fingerprints_them(project, home):
    ws = workspace(project, home)
    planned = plan(ws, ApplyRequest(client="acme", limit="srv,ws,nas1,vend"))
    assert planned.retire == {
        "printers": ["nas1", "srv", "vend", "ws"],
        "backup_agent": ["ws"],
        "patching": ["nas1"],
    }
    assert planned.extravars["mspctl_retire"] == {
        "printers": "nas1,srv,vend,ws",
        "backup_agent": "ws",
        "patching": "nas1",
    }
    assert "printers" in planned.fingerprints  # a left-over of a retired policy is drift
    offboarding = plan(ws, ApplyRequest(client="acme", retire_all=True, limit="srv,ws,nas1,vend"))
    assert offboarding.policies == {} and offboarding.extravars["mspctl_policies"] == {}
    assert set(offboarding.retire) == {
        "assets",
        "patching",
        "backup_agent",
        "monitoring",
        "printers",
        "baseline",
    }


def test_the_demo_controller_is_never_retired(project, home):
    """The demo's host is this machine, out of every policy but assets by no_<policy>: a full
    apply must route no retire path to it."""
    ws = Workspace(project_dir=project, home=home, db_url=f"sqlite:///{home / 'db.sqlite'}")
    for tier in ("bronze", "platinum"):
        planned = plan(ws, ApplyRequest(client="demo", tier=tier))
        assert planned.retire == {} and "mspctl_retire" not in planned.extravars
