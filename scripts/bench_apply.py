#!/usr/bin/env python3
"""Benchmark: an idempotent platinum apply on lab hosts, mspctl's engines vs stock ansible.

Brings up a lab (default 3 hosts, name `bench`), converges it once with mspctl, then times
REPEAT idempotent re-runs of the same roles on the same hosts, interleaved:
  - `mspctl apply bench --tier platinum` with --engine mitogen (the default), tuned and stock,
  - plain `ansible-playbook` with ansible's defaults on the same playbook, inventories, tier
    variables and vault (the stock baseline: no pipelining, linear strategy, 5 forks),
and prints the median of each and the ratios to the stock baseline. Needs root (the lab).

    .venv/bin/python scripts/bench_apply.py [--hosts 3] [--repeat 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
MSPCTL = [sys.executable, "-m", "mspctl"]


def run(cmd: list[str], env: dict[str, str], expect_changed_zero: bool = False) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(
            f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}"
            f"{proc.stderr[-3000:]}"
        )
    if expect_changed_zero and cmd[: len(MSPCTL)] == MSPCTL:
        changed = json.loads(proc.stdout)["changed"]
        if changed:
            sys.exit(f"not idempotent: {changed} changes in {' '.join(cmd)}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--name", default="bench")
    parser.add_argument("--distro", default="bookworm")
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="mspctl-bench-home-"))
    env = {
        **os.environ,
        "MSPCTL_HOME": str(home),
        "MSPCTL_PROJECT_DIR": str(ROOT),
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
    }
    run([*MSPCTL, "lab", "down", "--name", args.name], env)
    run([*MSPCTL, "lab", "up", str(args.hosts), "--name", args.name, "--distro", args.distro], env)
    try:
        apply = [*MSPCTL, "apply", args.name, "--tier", "platinum", "--json"]
        print(f"first converge of {args.hosts} hosts: {run(apply, env):.1f} s", flush=True)
        run(apply, env, expect_changed_zero=True)  # settle: a second run must change nothing

        # the stock baseline replays exactly what mspctl passes to ansible
        from mspctl.engine import ApplyRequest, _write_tier_inventory, plan
        from mspctl.workspace import Workspace

        workspace = Workspace(project_dir=ROOT, home=home)
        planned = plan(workspace, ApplyRequest(client=args.name, tier="platinum"))
        work = home / "stock"
        tier_inventory = _write_tier_inventory(work, planned.tier)
        extravars = work / "extravars.json"
        extravars.write_text(json.dumps(planned.extravars))
        stock = [
            str(VENV_BIN / "ansible-playbook"),
            "-i",
            str(tier_inventory),
            "-i",
            str(planned.client.inventory),
            "-e",
            f"@{extravars}",
            str(ROOT / "playbooks" / "site.yml"),
        ]
        if planned.vault_password_file:
            stock += ["--vault-password-file", str(planned.vault_password_file)]
        stock_env = {k: v for k, v in env.items() if not k.startswith("ANSIBLE_")}
        stock_env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")

        variants = {
            "ansible-playbook (stock defaults)": (stock, stock_env),
            "mspctl --engine stock": ([*apply, "--engine", "stock"], env),
            "mspctl --engine tuned": ([*apply, "--engine", "tuned"], env),
            "mspctl --engine mitogen (default)": ([*apply, "--engine", "mitogen"], env),
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(args.repeat):
            for name, (cmd, cmd_env) in variants.items():
                samples[name].append(run(cmd, cmd_env, expect_changed_zero=True))
            print(f"round {round_ + 1}/{args.repeat} done", flush=True)
        baseline = statistics.median(samples["ansible-playbook (stock defaults)"])
        print(
            f"\nidempotent platinum re-run on {args.hosts} lab hosts ({args.distro}), "
            f"median of {args.repeat}:"
        )
        print(f"{'variant':38} {'median':>8} {'best':>8} {'speed-up vs stock':>18}")
        for name, values in samples.items():
            median = statistics.median(values)
            print(f"{name:38} {median:7.1f}s {min(values):7.1f}s {baseline / median:17.2f}x")
    finally:
        if not args.keep:
            run([*MSPCTL, "lab", "down", "--name", args.name], env)


if __name__ == "__main__":
    main()
