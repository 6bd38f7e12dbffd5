"""Execution nodes on the lab, end to end (docs/nodes.md).

A lab of 2 hosts (1: the MSP side, monitoring and backups; 2: the execution node) and a site
network this machine cannot reach, with 2 site hosts behind the node (mspctl/lab/sites.py).
The site's client is applied through the node with ansible-runner streaming: `nodes prepare`
installs the node from here (the lab has no Internet but the Debian mirror), `nodes check`
refuses a node that differs; platinum converges, a second run changes nothing, drift is found
through the node; SIGINT on the controller leaves no process on the node; killing the node's
sshd mid-run fails the run with the reason, its hosts unreachable. A second client (lab host 3,
which this machine reaches) is applied from here while the site's first converge runs through the
node: both succeed, each its own run, their times overlap.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lab_helpers import Lab, require_lab, test_lab_name

from mspctl.lab import LabState
from mspctl.lab._system import pids_in_netns

pytestmark = [pytest.mark.lab, pytest.mark.slow]
# the node runs ansible-playbook: with ansible-core 2.21 (Python 3.12+) on the controller it needs
# Debian 13's Python 3.13; Debian 12's 3.11 serves a 2.19 controller (mspctl.nodes.node_python)
LAB_DISTRO = os.environ.get("MSPCTL_LAB_DISTRO") or (
    "trixie" if sys.version_info >= (3, 12) else "bookworm"
)
JOB_PROCESSES = ("ansible-runner", "ansible-playbook", "ansible-galaxy", "mspctl-job")


@pytest.fixture
def site_lab(cli):
    require_lab()
    from mspctl.lab.sites import add_site, remove_client, write_direct_client

    name = test_lab_name("nodes")
    result = cli("lab", "up", "3", "--name", name, "--distro", LAB_DISTRO)
    assert result.exit_code == 0, result.output
    site = direct = None
    try:
        state = LabState.load(name)
        assert state is not None
        site = add_site(
            state,
            node_index=2,
            count=2,
            inventories_dir=cli.project / "inventories",
            vault_dir=cli.home / "vault",
        )
        direct = write_direct_client(state, 3, cli.project / "inventories")
        yield Lab(state), site
    finally:
        for proc in STARTED:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        STARTED.clear()
        cli("lab", "down", "--name", name)
        if site is not None and site.client_dir:
            remove_client(Path(site.client_dir))
        if direct is not None:
            remove_client(direct)


def _json(result, code):
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def _node_processes(lab: Lab, node_name: str) -> list[str]:
    """Command lines of the job's processes on the node (read from here: no SSH needed)."""
    node = lab.host(node_name)
    found = []
    for pid in pids_in_netns(Path("/run/netns") / node.netns):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(word in cmdline for word in JOB_PROCESSES):
            found.append(f"{pid}: {cmdline[:150]}")
    return found


STARTED: list[subprocess.Popen[str]] = []  # applies a failed test leaves: ended at teardown


def _start_apply(cli, client: str, *options: str) -> subprocess.Popen[str]:
    env = {**os.environ, **cli.env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mspctl", "apply", client, "--tier", "platinum", "--json", *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    STARTED.append(proc)
    return proc


def _runs(cli) -> set[str]:
    runs = cli.home / "runs"
    return set(os.listdir(runs)) if runs.is_dir() else set()


def _wait_for_results(cli, proc: subprocess.Popen[str], before: set[str]) -> None:
    """Wait until the new run's first task results came back from the node: mid-run."""
    deadline = time.monotonic() + 300
    while True:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the job never started on the node"
        runs = _runs(cli) - before
        events = [
            e
            for run in runs
            for e in (cli.home / "runs" / run / "artifacts" / run / "job_events").glob("*.json")
        ]
        if any(json.loads(e.read_text()).get("event") == "runner_on_ok" for e in events):
            return
        time.sleep(0.2)


def _last_run(cli, client: str) -> dict:
    rows = _json(cli("runs", "list", client, "--json"), 0)
    return _json(cli("runs", "show", rows[0]["id"], "--json"), 0)


def test_a_site_behind_its_router_is_run_through_its_node(cli, site_lab) -> None:
    lab, site = site_lab
    client, node = site.client, f"{site.client}-node"
    key = lab.state.ssh_key
    # the controller cannot reach the site's hosts itself
    direct = subprocess.run(
        ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o",
         "StrictHostKeyChecking=no", "-i", str(key), f"root@{site.hosts[0].ip}", "true"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert direct.returncode == 255, direct

    refused = cli("apply", client, "--tier", "platinum")  # not prepared: its key is not pinned
    assert refused.exit_code == 1, refused.output
    assert node in refused.stderr and "not reachable" in refused.stderr

    prepared = _json(cli("nodes", "prepare", node, "--json"), 0)
    assert prepared[0]["ok"], prepared
    assert (cli.home / "nodes" / "known_hosts").read_text().startswith(site.node_ip)
    checked = _json(cli("nodes", "check", "--json"), 0)
    versions = checked[0]["versions"]
    assert versions == checked[0]["expected"]
    from importlib import metadata

    assert versions["ansible-core"] == metadata.version("ansible-core")
    assert versions["ansible-runner"] == metadata.version("ansible-runner")

    # a node whose collection differs from the controller's is refused, by check and by a run
    modules = "/opt/mspctl-node/collections/ansible_collections/mspctl/policy/plugins/modules"
    lab.ssh(lab.host(site.node), f"echo '# edited' >> $(ls {modules}/*.py | head -1)")
    result = cli("nodes", "check", node)
    assert result.exit_code == 1, result.output
    assert "collection plugins digest" in result.stderr
    result = cli("apply", client, "--tier", "platinum")
    assert result.exit_code == 1, result.output
    assert "does not match this controller" in result.stderr
    _json(cli("nodes", "prepare", node, "--json"), 0)

    # the first converge through the node; meanwhile a second client, which this machine
    # reaches itself, is applied from here (light: bronze's assets and baseline on its one
    # workstation; the whole tier would also retire backup_agent from it, whose retire task
    # needs a backup repository host this client does not have)
    before = _runs(cli)
    proc = _start_apply(cli, client, "--force-window")
    _wait_for_results(cli, proc, before)
    local_client = f"{lab.state.name}-direct"
    local = cli("apply", local_client, "--tier", "bronze", "--policy", "assets", "--policy",
                "baseline", "--json")  # fmt: skip
    assert proc.poll() is None, "the node's run ended before the local one: not concurrent"
    out, err = proc.communicate(timeout=1800)
    if proc.returncode != 0:
        tasks = _last_run(cli, client)["tasks"]
        pytest.fail(f"{out}\n{err}\n{[t for t in tasks if t['status'] == 'failed']}")
    if local.exit_code != 0:
        tasks = _last_run(cli, local_client)["tasks"]
        pytest.fail(f"{local.output}\n{[t for t in tasks if t['status'] == 'failed']}")
    applied = json.loads(out)
    assert set(applied["hosts"]) == {lab.hosts[0].name, *(h.name for h in site.hosts)}, applied
    assert set(json.loads(local.stdout)["hosts"]) == {lab.hosts[2].name}, local.stdout
    shown = _last_run(cli, client)
    assert shown["node"] == node and shown["status"] == "successful"
    alone = _last_run(cli, local_client)
    assert alone["status"] == "successful" and alone["node"] is None, alone
    assert alone["id"] != shown["id"]
    # really at the same time: the local run lies within the node's run
    times = [
        dt.datetime.fromisoformat(r[k]) for r in (shown, alone) for k in ("started_at", "ended_at")
    ]
    assert times[0] < times[2] < times[3] < times[1], times
    text = cli("runs", "show", shown["id"])
    assert f"execution node: {node}" in text.stdout
    again = _json(cli("apply", client, "--tier", "platinum", "--json"), 0)
    assert again["changed"] == 0, again
    assert _json(cli("drift", client, "--tier", "platinum", "--json"), 0)["drift"] == []

    # drift on a site host, seen through the node
    target = site.hosts[1]
    subprocess.run(
        ["ip", "netns", "exec", lab.host(site.node).netns, "ssh", "-F", "/dev/null", "-o",
         "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-i", str(key), f"root@{target.ip}", "systemctl stop prometheus-node-exporter"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    found = _json(cli("drift", client, "--tier", "platinum", "--json"), 2)
    assert {(c["host"], c["policy"]) for c in found["drift"]} == {(target.name, "monitoring")}
    assert _node_processes(lab, site.node) == []

    # SIGINT on the controller ends the job on the node, and nothing of it stays there
    before = _runs(cli)
    proc = _start_apply(cli, client)
    _wait_for_results(cli, proc, before)
    assert any("ansible-playbook" in p for p in _node_processes(lab, site.node))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    deadline = time.monotonic() + 30
    while _node_processes(lab, site.node) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _node_processes(lab, site.node) == []
    left = lab.ssh(lab.host(site.node), "ls -d /tmp/mspctl-job-* 2>/dev/null | wc -l")
    assert left.stdout.strip() == "0"
    assert _last_run(cli, client)["status"] == "aborted"

    # the node's sshd dies mid-run: the run fails with the reason, never `running`
    before = _runs(cli)
    proc = _start_apply(cli, client)
    _wait_for_results(cli, proc, before)
    node_ns = Path("/run/netns") / lab.host(site.node).netns
    for pid in pids_in_netns(node_ns):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip().startswith("sshd"):
                os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, (out, err)
    failed = _last_run(cli, client)
    assert failed["status"] == "failed"
    assert f"execution node {node} was lost mid-run" in failed["status_reason"]
    unreachable = {host for host, stats in failed["hosts"].items() if stats["unreachable"]}
    assert unreachable == {lab.hosts[0].name, *(h.name for h in site.hosts)}, failed["hosts"]
    deadline = time.monotonic() + 30  # the node ends the orphaned job by itself
    while _node_processes(lab, site.node) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _node_processes(lab, site.node) == []
