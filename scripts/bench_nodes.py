#!/usr/bin/env python3
"""Streaming overhead of an execution node: an idempotent platinum run on the same 3 lab hosts,
from the controller directly and streamed through a node (docs/nodes.md). Target: <= 15 %.

    sudo .venv/bin/python scripts/bench_nodes.py [--runs 3] [--name bnodes]

It brings up a lab of 4 hosts (hosts 1-3 managed, host 4 the node), writes two clients over
the same 3 hosts (``<lab>-direct`` and ``<lab>-node``), prepares the node, converges once, then
times ``mspctl apply --tier platinum`` of each, alternating, ``--runs`` times. Both use the
tuned engine (the node has no Mitogen), so the difference is the streaming alone. The lab is
taken down at the end, whatever happens.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


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


def main() -> int:
    import yaml

    import mspctl.lab as lab
    from mspctl.lab import inventory
    from mspctl.lab.sites import NODE_PATH

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--name", default="bnodes")
    parser.add_argument("--distro", default="bookworm")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-nodes-"))
    project = work / "project"
    shutil.copytree(ROOT, project, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "tests", "inventories", "__pycache__", "*.egg-info"))  # fmt: skip
    (project / "inventories").mkdir()
    env = {
        **os.environ,
        "MSPCTL_PROJECT_DIR": str(project),
        "MSPCTL_HOME": str(work / "home"),
        "MSPCTL_DB_URL": "",
        "PYTHONPATH": str(ROOT),
    }
    try:
        state = lab.up(args.name, 4, args.distro, project / "inventories")
        source = project / "inventories" / args.name
        inventory.write_vault(source, work / "home" / "vault" / f"{args.name}.pass")
        document = yaml.safe_load((source / "hosts.yml").read_text())
        node = next(h for h in state.hosts if h.index == 4)
        document["all"]["hosts"].pop(node.name)
        for group in document["all"]["children"].values():
            group["hosts"].pop(node.name, None)
        # the node checks the hosts' keys with the lab's known_hosts, in its global file
        node_root = state.host_dir(node) / "root"
        shutil.copy(state.known_hosts, node_root / "etc/ssh/ssh_known_hosts")
        for client, through_node in ((f"{args.name}-direct", False), (f"{args.name}-node", True)):
            target = project / "inventories" / client
            shutil.copytree(source / "group_vars", target / "group_vars")
            hosts = json.loads(json.dumps(document))
            if through_node:  # the node's paths: its known_hosts, the key sent in the job
                for variables in hosts["all"]["hosts"].values():
                    variables.pop("ansible_ssh_private_key_file")
                    variables.pop("ansible_ssh_common_args")
            (target / "hosts.yml").write_text(yaml.safe_dump(hosts))
            site = "sites:\n  - name: Lab\n    address: this machine\n"
            text = inventory.client_document()
            if through_node:
                text = text.replace(
                    site,
                    site + f"    node: {{name: {client}, host: {node.ip}, path: {NODE_PATH}, "
                    f"identity_file: {state.ssh_key}, hosts_identity_file: {state.ssh_key}}}\n",
                )
            (target / "client.yml").write_text(text)
            vault = work / "home" / "vault"
            shutil.copy(vault / f"{args.name}.pass", vault / f"{client}.pass")
        print("preparing the node", flush=True)
        mspctl(env, "nodes", "prepare", f"{args.name}-node")
        print("converging once", flush=True)
        mspctl(env, "apply", f"{args.name}-direct", "--tier", "platinum", "--force-window",
               "--engine", "tuned")  # fmt: skip
        times: dict[str, list[float]] = {"direct": [], "node": []}
        for _ in range(args.runs):
            for kind in ("direct", "node"):
                took, data = mspctl(env, "apply", f"{args.name}-{kind}", "--tier", "platinum",
                                    "--engine", "tuned")  # fmt: skip
                assert data["changed"] == 0, data
                times[kind].append(took)
                print(f"{kind}: {took:.1f} s", flush=True)
        direct, through = statistics.median(times["direct"]), statistics.median(times["node"])
        print(
            f"idempotent platinum, 3 hosts, tuned engine, median of {args.runs}: "
            f"direct {direct:.1f} s, through the node {through:.1f} s, "
            f"overhead {100 * (through - direct) / direct:+.1f} % (target <= 15 %)"
        )
    finally:
        lab.down(args.name)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
