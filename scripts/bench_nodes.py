#!/usr/bin/env python3
"""Execution nodes' cost and gain on the lab (docs/nodes.md): an idempotent platinum run,

1. of 3 hosts from the controller directly and streamed through a node (the streaming
   overhead, target <= 15 %);
2. of 6 hosts, as two clients of 3 applied at the same time (two ``mspctl apply`` at once:
   what a fleet run does with two clients, each in a slot, without the schedule state
   ``run-due`` needs to pick them), from the controller and each through its own node.

    sudo .venv313/bin/python scripts/bench_nodes.py [--runs 3] [--name bnodes]

It brings up a lab of 8 hosts (1-6 managed, 7 and 8 the nodes; host 1 is also the MSP side:
monitoring and backups) and writes two clients: ``<lab>-a`` (hosts 1-3, node: host 7) and
``<lab>-b`` (hosts 4-6 with host 1 as its MSP side only, node: host 8). Each is run both ways
by switching its ``client.yml`` (and the controller's SSH options in ``hosts.yml``) between
"no node" and "its node": the same client, the same run context, so each run stays idempotent
(two clients over the same hosts would undo each other's per-client settings). It prepares the
nodes, converges both clients once from here, then times each case in turn, ``--runs`` times,
and prints the medians. Every run uses the tuned engine (a node has no Mitogen), so the
difference is the streaming alone. The lab is taken down at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MSP_SIDE = ("msp_monitoring", "backup_repository")


def mspctl(env: dict[str, str], *args: str) -> tuple[float, dict[str, object]]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "mspctl", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"mspctl {' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    data = json.loads(proc.stdout)
    return took, data if isinstance(data, dict) else {"rows": data}


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mspctl", *args, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], what: str) -> int:
    """Wait for a run; its number of changed tasks (an idempotent run: 0)."""
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"mspctl apply {what}: exit {proc.returncode}\n{err[-2000:]}")
    changed: int = json.loads(out)["changed"]
    return changed


def apply_all(env: dict[str, str], clients: list[str]) -> tuple[float, int]:
    """Platinum runs of ``clients`` at the same time: wall-clock seconds, changed tasks."""
    started = time.monotonic()
    procs = [start(env, "apply", c, "--tier", "platinum", "--engine", "tuned") for c in clients]
    changed = sum(finish(proc, client) for client, proc in zip(clients, procs, strict=True))
    return time.monotonic() - started, changed


def write_client(
    project: Path,
    source: Path,
    client: str,
    document: dict[str, Any],
    managed: list[str],
    msp: str,
    node: dict[str, str],
) -> None:
    """A client of the lab hosts ``managed`` (host ``msp`` always, as its MSP side at least),
    with both variants of its files: ``*.direct`` and ``*.node`` (through ``node``)."""
    import yaml

    from mspctl.lab import inventory

    target = project / "inventories" / client
    shutil.copytree(source / "group_vars", target / "group_vars")
    everyone = {*managed, msp}
    hosts = json.loads(json.dumps(document))
    for name in list(hosts["all"]["hosts"]):
        if name not in everyone:
            hosts["all"]["hosts"].pop(name)
    for group_name, group in hosts["all"]["children"].items():
        for name in list(group["hosts"]):
            if name not in everyone or (name not in managed and group_name not in MSP_SIDE):
                group["hosts"].pop(name)
    (target / "hosts.yml.direct").write_text(yaml.safe_dump(hosts))
    for variables in hosts["all"]["hosts"].values():
        # through the node: its known_hosts, the hosts' key sent in the job
        variables.pop("ansible_ssh_private_key_file")
        variables.pop("ansible_ssh_common_args")
    (target / "hosts.yml.node").write_text(yaml.safe_dump(hosts))
    site = "sites:\n  - name: Lab\n    address: this machine\n"
    text = inventory.client_document()
    (target / "client.yml.direct").write_text(text)
    fields = ", ".join(f"{k}: {v}" for k, v in node.items())
    (target / "client.yml.node").write_text(text.replace(site, site + f"    node: {{{fields}}}\n"))
    way(project, client, "direct")


def way(project: Path, client: str, kind: str) -> None:
    """Run ``client`` from here (``direct``) or through its node (``node``) from now on."""
    target = project / "inventories" / client
    for name in ("hosts.yml", "client.yml"):
        shutil.copy(target / f"{name}.{kind}", target / name)


def main() -> int:
    import yaml

    import mspctl.lab as lab
    from mspctl.lab import inventory
    from mspctl.lab.sites import NODE_PATH

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--name", default="bnodes")
    # the node runs ansible-playbook with the controller's ansible-core: 2.21 needs Debian 13
    default_distro = "trixie" if sys.version_info >= (3, 12) else "bookworm"
    parser.add_argument("--distro", default=default_distro)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-nodes-"))
    project = work / "project"
    shutil.copytree(ROOT, project, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "tests", "inventories", "__pycache__", "*.egg-info"))  # fmt: skip
    (project / "inventories").mkdir()
    env = {
        **os.environ,
        "MSPCTL_PROJECT_DIR": str(project),
        "MSPCTL_HOME": str(work / "home"),
        "MSPCTL_DB_URL": "",
        "PYTHONPATH": str(ROOT),
    }
    name = args.name
    try:
        started = time.monotonic()
        state = lab.up(name, 8, args.distro, project / "inventories")
        source = project / "inventories" / name
        vault = work / "home" / "vault"
        inventory.write_vault(source, vault / f"{name}.pass")
        document = yaml.safe_load((source / "hosts.yml").read_text())
        by_index = {h.index: h.name for h in state.hosts}
        nodes = {}
        for index in (7, 8):
            node = next(h for h in state.hosts if h.index == index)
            # the node checks the hosts' keys with the lab's known_hosts, in its global file
            node_root = state.host_dir(node) / "root"
            shutil.copy(state.known_hosts, node_root / "etc/ssh/ssh_known_hosts")
            nodes[index] = {"host": node.ip, "path": NODE_PATH, "identity_file": str(state.ssh_key),
                            "hosts_identity_file": str(state.ssh_key)}  # fmt: skip
        msp = by_index[1]
        a, b = f"{name}-a", f"{name}-b"
        clients = {
            a: ([by_index[i] for i in (1, 2, 3)], {"name": f"{a}-node", **nodes[7]}),
            b: ([by_index[i] for i in (4, 5, 6)], {"name": f"{b}-node", **nodes[8]}),
        }
        for client, (managed, node_fields) in clients.items():
            write_client(project, source, client, document, managed, msp, node_fields)
            shutil.copy(vault / f"{name}.pass", vault / f"{client}.pass")
        print(f"lab up ({time.monotonic() - started:.0f} s); preparing the nodes", flush=True)
        for client in clients:
            way(project, client, "node")
        mspctl(env, "nodes", "prepare", f"{a}-node", f"{b}-node")
        print("converging each client once, from here", flush=True)
        for client in clients:
            way(project, client, "direct")
            mspctl(env, "apply", client, "--tier", "platinum", "--force-window",
                   "--engine", "tuned")  # fmt: skip
        cases = {  # name: (clients, way)
            "3 hosts, direct": ([a], "direct"),
            "3 hosts, through a node": ([a], "node"),
            "6 hosts, direct (2 applies at once)": ([a, b], "direct"),
            "6 hosts, 2 nodes x 3 (2 applies at once)": ([a, b], "node"),
        }
        times: dict[str, list[float]] = {case: [] for case in cases}
        for _ in range(args.runs):
            for case, (members, kind) in cases.items():
                for client in members:
                    way(project, client, kind)
                took, changed = apply_all(env, members)
                times[case].append(took)
                print(f"{case}: {took:.1f} s, {changed} changed", flush=True)
        median = {case: statistics.median(values) for case, values in times.items()}
        load = os.getloadavg()
        print(f"idempotent platinum, tuned engine, median of {args.runs} runs "
              f"(load average now {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}):")  # fmt: skip
        for case, value in median.items():
            print(f"  {case}: {value:.1f} s  ({', '.join(f'{t:.1f}' for t in times[case])})")
        direct, through = median["3 hosts, direct"], median["3 hosts, through a node"]
        print(f"streaming overhead, 3 hosts: {100 * (through - direct) / direct:+.1f} % "
              "(target <= 15 %)")  # fmt: skip
        six = median["6 hosts, direct (2 applies at once)"]
        split = median["6 hosts, 2 nodes x 3 (2 applies at once)"]
        print(f"6 hosts through 2 nodes vs from the controller: {split / six:.2f} x the time "
              f"({100 * (split - six) / six:+.1f} %)")  # fmt: skip
    finally:
        lab.down(name)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
