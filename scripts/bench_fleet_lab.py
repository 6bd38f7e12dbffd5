#!/usr/bin/env python3
"""Benchmark: ``mspctl run-due`` for 10 lab clients, in parallel and one after another.

Brings up a lab of CLIENTS real hosts (``mspctl lab up``; needs root, as the lab does), writes
CLIENTS clients (default 10) into a copy of the project, each with one lab host of its own as
its workstation and the silver tier in Europe/Rome, then times the nightly run's patching duty
in check mode (apt's simulation on every host: the real work of a patch
night, repeatable, changing nothing) at an instant when every client's workstation window is
open:

- ``--parallel 1``: the clients one after another;
- ``--parallel N`` (default 4, the CLI's default): N clients at a time.

Each configuration runs ROUNDS times (default 2), alternating, after one warm-up; the medians and
their ratio are printed. The lab is taken down at the end.
Run: ``python scripts/bench_fleet_lab.py [CLIENTS] [PARALLEL] [ROUNDS]``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PARTS = (
    "ansible.cfg",
    "galaxy.yml",
    "meta",
    "collections",
    "tiers",
    "playbooks",
    "roles",
    "plugins",
)
LAB = "bench-fleet"
TUESDAY_EVENING_IN_ROME = "2026-12-01T18:30Z"


def mspctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mspctl", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def make_project(tmp: Path) -> Path:
    project = tmp / "project"
    project.mkdir()
    for part in PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, project / part, symlinks=True)
        else:
            shutil.copy2(source, project / part)
    (project / "inventories").mkdir()
    return project


def write_clients(project: Path, count: int) -> None:
    lab = project / "inventories" / LAB
    hosts = yaml.safe_load((lab / "hosts.yml").read_text())["all"]
    names = sorted(hosts["hosts"])
    for i in range(count):
        client = project / "inventories" / f"client-{i:02d}"
        client.mkdir()
        name = names[i]
        document = {
            "all": {
                "vars": hosts.get("vars", {}),
                "hosts": {name: hosts["hosts"][name]},
                "children": {"workstations": {"hosts": {name: {}}}},
            }
        }
        (client / "hosts.yml").write_text(yaml.safe_dump(document))
        (client / "client.yml").write_text(
            f"name: Client {i}\ntimezone: Europe/Rome\n"
            "contract: {tier: silver, start: 2026-01-01}\n"
        )


def run_due(env: dict[str, str], clients: list[str], parallel: int) -> float:
    selection = [arg for name in clients for arg in ("--client", name)]
    started = time.perf_counter()
    result = mspctl(
        env, "run-due", "--now", TUESDAY_EVENING_IN_ROME, "--duties", "patching", "--check",
        "--parallel", str(parallel), *selection, "--json",
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 2):  # 2: check mode found updates to apply
        failing = [c for c in json.loads(result.stdout)["clients"] if c["exit_code"] not in (0, 2)]
        details = [mspctl(env, "runs", "show", r).stdout for c in failing for r in c["run_ids"]]
        raise SystemExit(
            f"run-due --parallel {parallel} exited {result.returncode}:\n{result.stderr[-2000:]}"
            + "\n".join(d[-3000:] for d in details)
        )
    due = [c for c in json.loads(result.stdout)["clients"] if c["due"]]
    if len(due) != len(clients):
        raise SystemExit(f"expected {len(clients)} due clients, got {len(due)}")
    return elapsed


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    parallel = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    with tempfile.TemporaryDirectory(prefix="bench-fleet-lab-") as tmp:
        project = make_project(Path(tmp))
        env = dict(
            os.environ,
            MSPCTL_PROJECT_DIR=str(project),
            MSPCTL_HOME=str(Path(tmp) / "home"),
            MSPCTL_DB_URL="",
            PYTHONPATH=str(ROOT),
        )
        up = mspctl(env, "lab", "up", str(count), "--name", LAB)
        if up.returncode != 0:
            raise SystemExit(f"lab up failed: {up.stderr[-2000:]}")
        try:
            write_clients(project, count)
            clients = [f"client-{i:02d}" for i in range(count)]
            print(f"{count} lab clients, a host each, patching duty in check mode", flush=True)
            run_due(env, clients, parallel)  # warm-up: apt lists, fact caches
            times: dict[int, list[float]] = {1: [], parallel: []}
            for _ in range(rounds):
                for width in (1, parallel):
                    times[width].append(run_due(env, clients, width))
                    print(f"  --parallel {width}: {times[width][-1]:.1f} s", flush=True)
        finally:
            mspctl(env, "lab", "down", "--name", LAB)
    one, many = statistics.median(times[1]), statistics.median(times[parallel])
    print(f"one after another (--parallel 1): median {one:.1f} s ({one / count:.1f} s a client)")
    print(f"in parallel (--parallel {parallel}):    median {many:.1f} s")
    print(f"speed-up: {one / many:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
