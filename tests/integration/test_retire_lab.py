"""Retire paths and offboarding on real lab hosts (3 hosts: host 1 is also the MSP monitoring
and backup repository host):

1. platinum applied, then the client moved to gold in its client.yml: the printers policy is
   retired as its README says (queues kept for their users, reported in the run as no longer
   managed) and the 30-second scrape is gone from the monitoring host; a second apply changes
   nothing and drift is clean;
2. down to bronze: the workstation leaves the monitoring policy and patching leaves the tier:
   ``--check`` lists the retirement and touches nothing, the apply removes the agent, the
   collector, the scrape target and the patching state, again changes nothing, drift is clean,
   and a left-over put back by hand is drift;
3. ``clients offboard --check`` lists every removal and touches nothing; ``clients offboard``
   leaves nothing of mspctl on any host but the documented keeps, takes the client off the
   monitoring host, writes a hand-over package that opens and holds what it promises, archives
   the inventory; the client is refused (exit 3), its history still listed and diffed, and
   ``clients restore`` brings it back.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from lab_helpers import Lab, require_lab, test_lab_name

from mspctl.lab import LabState

pytestmark = [pytest.mark.lab, pytest.mark.slow]
LAB_DISTRO = os.environ.get("MSPCTL_LAB_DISTRO", "bookworm")
TARGETS = "/etc/prometheus/mspctl/targets"
COLLECTOR_TIMER = "/etc/systemd/system/mspctl-monitoring-collect.timer"
PATCHING_STATE = "/var/lib/mspctl/patching"
COLLECTOR_CONFIG = "/etc/mspctl/monitoring.json"
RULES = "/etc/prometheus/mspctl/rules"


@pytest.fixture
def retire_lab(cli):
    require_lab()
    name = test_lab_name("retire")
    result = cli("lab", "up", "3", "--name", name, "--distro", LAB_DISTRO)
    assert result.exit_code == 0, result.output
    try:
        state = LabState.load(name)
        assert state is not None
        yield name, Lab(state)
    finally:
        cli("lab", "down", "--name", name)


def _json(result: Any, code: int) -> Any:
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def set_tier(cli: Any, name: str, tier: str) -> None:
    path = cli.project / "inventories" / name / "client.yml"
    data = yaml.safe_load(path.read_text())
    data["contract"]["tier"] = tier
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def scrape_intervals(lab: Lab, monitor: Any, name: str) -> dict[str, str]:
    """host -> the __scrape_interval__ of its target file on the monitoring host."""
    out = {}
    for host in lab.hosts:
        proc = lab.ssh(monitor, f"cat {TARGETS}/{name}@{host.name}.yml", check=False)
        if proc.returncode == 0:
            out[host.name] = yaml.safe_load(proc.stdout)[0]["labels"]["__scrape_interval__"]
    return out


def run_tasks(cli: Any, run_id: str) -> list[dict[str, Any]]:
    return list(cli.json("runs", "show", run_id)["tasks"])


def event_messages(cli: Any, run_id: str, needle: str) -> list[tuple[str, str]]:
    """(host, msg) of the run's recorded task results (its artifacts) whose msg has ``needle``."""
    run = cli.json("runs", "show", run_id)
    events = Path(run["artifacts_dir"], "artifacts", run_id, "job_events")
    found = []
    for path in sorted(events.glob("*.json")):
        data = json.loads(path.read_text()).get("event_data", {})
        msg = (data.get("res") or {}).get("msg")
        if isinstance(msg, str) and needle in msg:
            found.append((data.get("host"), msg))
    return found


def test_a_downgrade_retires_what_the_tier_lost(cli, retire_lab):
    name, lab = retire_lab
    hosts = sorted(lab.hosts, key=lambda h: h.index)
    monitor, workstation = hosts[0], hosts[2]
    set_tier(cli, name, "platinum")
    applied = _json(cli("apply", name, "--force-window", "--json"), 0)
    assert "printers" in applied["policies"] and applied["tier"] == "platinum"
    assert scrape_intervals(lab, monitor, name) == {h.name: "30s" for h in hosts}
    for host in hosts:  # servers and workstations print: the lab's two queues are there
        assert set(lab.ssh(host, "lpstat -e").stdout.split()) == {"lab-raw", "lab-ps"}

    # the client moves to gold: printers leaves the tier, the scrape slows to 60 s
    set_tier(cli, name, "gold")
    checked = _json(cli("apply", name, "--check", "--json"), 2)
    # printers leaves every host; the backup agent (servers and NAS) never was on the workstation,
    # whose retire path is checked every run and finds nothing
    assert checked["retire"] == {
        "printers": sorted(h.name for h in hosts),
        "backup_agent": [workstation.name],
    }, checked
    assert "printers" not in checked["policies"]
    moved = _json(cli("apply", name, "--json"), 0)
    assert moved["tier"] == "gold" and moved["retire"] == checked["retire"]
    assert scrape_intervals(lab, monitor, name) == {h.name: "60s" for h in hosts}
    for host in hosts:  # kept for their users ...
        assert set(lab.ssh(host, "lpstat -e").stdout.split()) == {"lab-raw", "lab-ps"}
    handed_back = {  # ... and reported in the run as no longer managed
        t["host"]
        for t in run_tasks(cli, moved["run_id"])
        if t["policy"] == "printers" and "no longer managed" in t["task"] and t["status"] == "ok"
    }
    assert handed_back == {h.name for h in hosts}
    said = event_messages(cli, moved["run_id"], "no longer managed")
    assert {host for host, _msg in said} == {h.name for h in hosts}
    assert all("lab-raw" in msg and "lab-ps" in msg for _host, msg in said), said

    again = _json(cli("apply", name, "--json"), 0)
    assert again["changed"] == 0, again
    clean = _json(cli("drift", name, "--json"), 0)
    assert clean["drift"] == [] and clean["pending_changes"] == [], clean

    # down to bronze: the workstation leaves the monitoring policy (bronze watches servers
    # and NAS only) and patching leaves the tier; check lists it all and touches nothing
    set_tier(cli, name, "bronze")
    pending = _json(cli("apply", name, "--check", "--json"), 2)
    assert pending["retire"]["monitoring"] == [workstation.name], pending
    assert pending["retire"]["patching"] == sorted(h.name for h in hosts), pending
    changes = {(t["host"], t["policy"]) for t in run_tasks(cli, pending["run_id"]) if t["changed"]}
    assert (workstation.name, "monitoring") in changes, changes
    assert {(h.name, "patching") for h in hosts} <= changes, changes
    lab.ssh(workstation, "systemctl is-active prometheus-node-exporter")
    lab.ssh(workstation, f"test -f {COLLECTOR_TIMER} && test -d {PATCHING_STATE}")
    assert workstation.name in scrape_intervals(lab, monitor, name)

    retired = _json(cli("apply", name, "--json"), 0)
    assert retired["hosts"][workstation.name]["changed"] > 0, retired
    lab.ssh(workstation, "! systemctl is-active prometheus-node-exporter")
    gone = f"{COLLECTOR_TIMER} /usr/local/lib/mspctl/monitoring /etc/mspctl/monitoring.json"
    lab.ssh(workstation, f"for p in {gone}; do ! test -e $p || exit 1; done")
    lab.ssh(workstation, "! dpkg -s prometheus-node-exporter 2>/dev/null | grep -q installed")
    for host in hosts:
        lab.ssh(host, f"! test -e {PATCHING_STATE}")
    assert scrape_intervals(lab, monitor, name) == {h.name: "120s" for h in hosts[:2]}
    lab.ssh(monitor, f"test -f {RULES}/{name}.yml")  # the servers are still monitored
    again = _json(cli("apply", name, "--json"), 0)
    assert again["changed"] == 0, again
    clean = _json(cli("drift", name, "--json"), 0)
    assert clean["drift"] == [] and clean["pending_changes"] == [], clean

    # a left-over put back by hand is drift, named with its host and policy
    lab.ssh(workstation, f"mkdir -p /etc/mspctl && echo '{{}}' > {COLLECTOR_CONFIG}")
    drift = _json(cli("drift", name, "--json"), 2)
    assert {(c["host"], c["policy"]) for c in drift["drift"]} == {
        (workstation.name, "monitoring")
    }, drift
    assert drift["pending_changes"] == []

    offboard_the_lab(cli, name, lab)


# What an offboarding keeps on purpose (roles' READMEs, "Retire"): on the MSP monitoring host,
# the MSP's own folder of every client's targets and rules; every host keeps the print queues.
DOCUMENTED_KEEPS = {"/etc/prometheus/mspctl"}


def mspctl_remains(lab: Lab, host: Any) -> set[str]:
    """Every path named after mspctl on the host, and every mspctl unit systemd knows; not the
    lab's own set-up (``*mspctl-lab*``: its apt proxy and sshd settings, made by ``lab up``)."""
    found = lab.ssh(
        host,
        "find /etc /usr /var /srv /root -xdev -name '*mspctl*' ! -name '*mspctl-lab*' "
        "2>/dev/null; true",
    ).stdout.split()
    units = lab.ssh(
        host, "systemctl list-unit-files 'mspctl*' --no-legend --plain | cut -d' ' -f1"
    ).stdout.split()
    return set(found) | {f"unit {u}" for u in units}


def offboard_the_lab(cli: Any, name: str, lab: Lab) -> None:
    import hashlib

    from ansible.parsing.vault import VaultLib, VaultSecret

    hosts = sorted(lab.hosts, key=lambda h: h.index)
    monitor, servers = hosts[0], hosts[:2]
    before = {h.name: mspctl_remains(lab, h) for h in hosts}
    preview = _json(cli("clients", "offboard", name, "--check", "--json"), 0)
    removals = {(r["host"], r["policy"]) for r in preview["removals"]}
    for host in servers:
        assert {(host.name, "backup_agent"), (host.name, "monitoring")} <= removals, removals
    assert preview["archive"] is None and preview["handover"] is None
    assert {h.name: mspctl_remains(lab, h) for h in hosts} == before  # nothing touched
    lab.ssh(servers[1], "test -f /etc/systemd/system/mspctl-backup.timer")

    done = _json(cli("clients", "offboard", name, "--json"), 0)
    for host in hosts:
        remains = mspctl_remains(lab, host) - (DOCUMENTED_KEEPS if host is monitor else set())
        assert remains == set(), (host.name, remains)
        lab.ssh(host, "! dpkg -s prometheus-node-exporter 2>/dev/null | grep -q installed")
        assert set(lab.ssh(host, "lpstat -e").stdout.split()) == {"lab-raw", "lab-ps"}
    client_files = lab.ssh(
        monitor,
        f"find /etc/prometheus/mspctl -name '*{name}*'; grep -l '{name}' "
        "/etc/prometheus/alertmanager.yml /srv/restic/.ssh/authorized_keys 2>/dev/null; true",
    ).stdout.split()
    assert client_files == [], client_files
    # kept: the backup repositories, until their retention ends
    for host in servers:
        lab.ssh(monitor, f"test -f /srv/restic/{name}/{host.name}/config")

    # the hand-over package opens and holds what it promises
    package = Path(done["handover"])
    manifest = json.loads((package / "manifest.json").read_text())
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((package / rel).read_bytes()).hexdigest() == digest, rel
    assets = json.loads((package / "assets.json").read_text())
    assert set(assets) == {h.name for h in hosts}
    with (package / "assets.csv").open() as handle:
        assert {row["host"] for row in csv.DictReader(handle)} == {h.name for h in hosts}
    report = json.loads((package / "compliance-report.json").read_text())
    assert report["client"]["id"] == name and report["run"]["mode"] == "apply"
    assert (package / "compliance-report.html").read_text().lstrip().startswith("<!")
    assert list(package.glob("monthly-report-*.json")) and list(
        package.glob("monthly-report-*.html")
    )
    access = (package / "backup-access.md").read_text()
    sealed = (package / "backup-credentials.vault.yml").read_text()
    assert sealed.startswith("$ANSIBLE_VAULT")
    vault_password = (cli.home / "vault" / f"{name}.pass").read_text().strip()
    vault = VaultLib([("default", VaultSecret(vault_password.encode()))])
    credentials = yaml.safe_load(vault.decrypt(sealed))["backup_repositories"]
    assert set(credentials) == {h.name for h in servers}
    password = lab_backup_password(cli, name, vault)
    for host in servers:
        assert credentials[host.name]["password"] == password
        assert credentials[host.name]["repository"] in access
        assert f"/srv/restic/{name}/{host.name}" in credentials[host.name]["repository"]
    assert password not in access and password not in json.dumps(manifest)

    # the inventory is archived, never deleted; the client is refused until restored
    archive = Path(done["archive"])
    assert archive.parent == cli.project / "inventories" / ".archive"
    assert (archive / "hosts.yml").is_file()
    assert not (cli.project / "inventories" / name).exists()
    for command in (("apply", name), ("drift", name)):
        refused = cli(*command)
        assert refused.exit_code == 3, refused.output
        assert f"client {name} is offboarded" in refused.output
        assert "mspctl clients restore" in refused.output
    runs = cli.json("runs", "list", name, "-n", "100")
    assert done["run_id"] in {r["id"] for r in runs}
    diff = cli("diff", name, "--json")
    assert diff.exit_code == 0, diff.output

    restored = cli("clients", "restore", name)
    assert restored.exit_code == 0, restored.output
    assert (cli.project / "inventories" / name / "hosts.yml").is_file()


def lab_backup_password(cli: Any, name: str, vault: Any) -> str:
    """The restic password `mspctl lab up` sealed in the lab's group_vars/all/vault.yml."""
    path = cli.project / "inventories" / name / "group_vars" / "all" / "vault.yml"
    if not path.is_file():  # archived with the inventory
        path = next(
            (cli.project / "inventories" / ".archive").glob(f"{name}-*/group_vars/all/vault.yml")
        )
    data = yaml.load(path.read_text(), Loader=_VaultLoader)
    return vault.decrypt(data["backup_agent_password"]).decode().strip()


class _VaultLoader(yaml.SafeLoader):
    """Reads ``!vault`` values as their ciphertext."""


_VaultLoader.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))
