#!/usr/bin/env python3
"""Benchmark: an idempotent platinum apply on lab hosts, mspctl's engines vs stock ansible.

For each lab size of --hosts (default 3; e.g. `--hosts 3,6,12`) it brings up a lab (name
--name), converges it once with mspctl, then times REPEAT idempotent re-runs of the same roles
on the same hosts, interleaved:
  - `mspctl apply NAME --tier platinum` with --engine mitogen (the default), tuned and stock,
  - plain `ansible-playbook` with ansible's defaults on the same playbook, inventories, tier
    variables and vault (the stock baseline: no pipelining, linear strategy, 5 forks),
and prints for each: the median wall time, the cost per host, the ratio to the stock baseline,
the controller's CPU seconds (the command and every descendant it waited for, from
getrusage(RUSAGE_CHILDREN)) and the peak memory of the controller's process tree (the sum of
the RSS of the command and its descendants, sampled every 0.1 s). It then checks that every
mspctl engine's run leaves the same compliance findings (host, control, status) and fails if
not: an optimisation must change no result.

Needs root (the lab). The machine is shared: a 12-host lab is only built when asked for.

    .venv/bin/python scripts/bench_apply.py [--hosts 3[,6,12]] [--repeat 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
MSPCTL = [sys.executable, "-m", "mspctl"]
PAGE = os.sysconf("SC_PAGE_SIZE")
STOCK = "ansible-playbook (stock defaults)"
ENGINES = ("stock", "tuned", "mitogen")


@dataclass
class Sample:
    wall: float  # seconds
    cpu: float  # user + system seconds of the command and its reaped descendants
    peak_rss: int  # bytes: the largest sum of RSS over the command's process tree
    stdout: str
    busy: float = 0.0  # share of the machine's cores busy meanwhile (every process: hosts too)


class TreeSampler(threading.Thread):
    """Polls /proc for a process and its descendants and keeps the peak of their summed RSS.
    Shared pages count once per process (an upper bound); daemonised ssh ControlPersist
    masters leave the tree and are not counted."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self.done.wait(self.interval)


def tree_rss(root: int) -> int:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def machine_ticks() -> tuple[int, int]:
    """(all, idle) clock ticks of every core so far, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values[:8]), values[3] + values[4]  # user..steal; idle + iowait


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str], env: dict[str, str], expect_changed_zero: bool = False) -> Sample:
    cpu0 = children_cpu()
    ticks0 = machine_ticks()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    sampler = TreeSampler(proc.pid)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.done.set()
    sampler.join()
    cpu = children_cpu() - cpu0
    ticks1 = machine_ticks()
    total, idle = ticks1[0] - ticks0[0], ticks1[1] - ticks0[1]
    busy = (total - idle) / total if total > 0 else 0.0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{out[-3000:]}{err[-3000:]}")
    if expect_changed_zero and cmd[: len(MSPCTL)] == MSPCTL:
        changed = json.loads(out)["changed"]
        if changed:
            sys.exit(f"not idempotent: {changed} changes in {' '.join(cmd)}")
    return Sample(wall, cpu, sampler.peak, out, busy)


def findings(run_id: str, client: str, env: dict[str, str]) -> dict[tuple[str, str], str]:
    """The compliance findings a run leaves: (host, control) -> status, waivers applied."""
    out = run([*MSPCTL, "report", client, "--run", run_id, "--format", "json"], env).stdout
    return {(c["host"], c["control_id"]): c["status"] for c in json.loads(out)["controls"]}


def compare_findings(by_engine: dict[str, dict[tuple[str, str], str]]) -> list[str]:
    """Differences between engines' findings, as lines (none: identical)."""
    (first, reference), *others = by_engine.items()
    problems = []
    for engine, found in others:
        for key in sorted(set(reference) | set(found)):
            if reference.get(key) != found.get(key):
                problems.append(
                    f"{key[0]} {key[1]}: {first} {reference.get(key, 'missing')}, "
                    f"{engine} {found.get(key, 'missing')}"
                )
    return problems


def bench_lab(args: argparse.Namespace, hosts: int, env: dict[str, str], home: Path) -> list[Any]:
    """One lab size: its rows for the table, after the findings check."""
    mib = 2**20
    run([*MSPCTL, "lab", "down", "--name", args.name], env)
    run([*MSPCTL, "lab", "up", str(hosts), "--name", args.name, "--distro", args.distro], env)
    try:
        apply = [*MSPCTL, "apply", args.name, "--tier", "platinum", "--json"]
        first = run(apply, env)
        print(
            f"{hosts} hosts: first converge {first.wall:.1f} s, controller CPU {first.cpu:.1f} s, "
            f"peak tree RSS {first.peak_rss / mib:.0f} MiB",
            flush=True,
        )
        run(apply, env, expect_changed_zero=True)  # settle: a second run must change nothing

        # the stock baseline replays exactly what mspctl passes to ansible
        from mspctl.engine import ApplyRequest, _write_tier_inventory, plan
        from mspctl.workspace import Workspace

        workspace = Workspace(project_dir=ROOT, home=home)
        planned = plan(workspace, ApplyRequest(client=args.name, tier="platinum"))
        work = home / f"stock-{hosts}"
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

        variants = {STOCK: (stock, stock_env)}
        for engine in ENGINES:
            label = f"mspctl --engine {engine}" + (" (default)" if engine == "mitogen" else "")
            variants[label] = ([*apply, "--engine", engine], env)
        samples: dict[str, list[Sample]] = {name: [] for name in variants}
        found: dict[str, dict[tuple[str, str], str]] = {}
        for round_ in range(args.repeat):
            for name, (cmd, cmd_env) in variants.items():
                sample = run(cmd, cmd_env, expect_changed_zero=True)
                samples[name].append(sample)
                if name != STOCK and round_ == 0:
                    found[name] = findings(json.loads(sample.stdout)["run_id"], args.name, env)
            print(f"{hosts} hosts: round {round_ + 1}/{args.repeat} done", flush=True)
        problems = compare_findings(found)
        controls = len(next(iter(found.values())))
        if problems:
            sys.exit(
                f"findings differ between engines on {hosts} hosts:\n  " + "\n  ".join(problems)
            )
        print(f"{hosts} hosts: findings identical across engines ({controls} host controls)")
        baseline = statistics.median(s.wall for s in samples[STOCK])
        rows: list[Any] = [(hosts, "first converge (mspctl default)", first, first, None)]
        for name, values in samples.items():
            wall = statistics.median(s.wall for s in values)
            cpu = statistics.median(s.cpu for s in values)
            rss = max(s.peak_rss for s in values)
            busy = statistics.median(s.busy for s in values)
            rows.append((hosts, name, wall, cpu, rss, baseline / wall, busy))
        return rows
    finally:
        if not args.keep:
            run([*MSPCTL, "lab", "down", "--name", args.name], env)


def print_table(rows: list[Any], repeat: int, distro: str) -> None:
    mib = 2**20
    print(
        f"\nidempotent platinum re-run on lab hosts ({distro}), median of {repeat}; CPU: "
        "controller, children included; RSS: peak of the controller's process tree; busy: "
        "share of the machine's cores in use meanwhile (controller and lab hosts share them: "
        "near 100 % the run is bound by CPU, not by round trips)"
    )
    head = (
        f"{'hosts':>5} {'variant':36} {'wall':>8} {'per host':>9} {'vs stock':>9} "
        f"{'CPU':>8} {'CPU/host':>9} {'peak RSS':>10} {'busy':>5}"
    )
    print(head)
    for row in rows:
        hosts, name = row[0], row[1]
        if row[4] is None:  # the first converge: one sample
            s = row[2]
            wall, cpu, rss, ratio, busy = s.wall, s.cpu, s.peak_rss, "-", s.busy
        else:
            wall, cpu, rss, ratio, busy = row[2], row[3], row[4], f"{row[5]:.2f}x", row[6]
        print(
            f"{hosts:>5} {name:36} {wall:7.1f}s {wall / hosts:8.2f}s {ratio:>9} "
            f"{cpu:7.1f}s {cpu / hosts:8.2f}s {rss / mib:7.0f} MiB {busy:4.0%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--hosts",
        default="3",
        help="lab sizes, comma-separated (e.g. 3,6,12); 12 only when the machine is quiet",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--name", default="bench")
    parser.add_argument("--distro", default="bookworm")
    parser.add_argument("--keep", action="store_true", help="leave the last lab up afterwards")
    args = parser.parse_args()
    try:
        sizes = [int(n) for n in args.hosts.split(",")]
    except ValueError:
        parser.error(f"--hosts: comma-separated host counts, got {args.hosts!r}")
    if any(n < 1 for n in sizes) or args.repeat < 1:
        parser.error("--hosts and --repeat must be at least 1")

    home = Path(tempfile.mkdtemp(prefix="mspctl-bench-home-"))
    env = {
        **os.environ,
        "MSPCTL_HOME": str(home),
        "MSPCTL_PROJECT_DIR": str(ROOT),
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
    }
    rows: list[Any] = []
    for index, hosts in enumerate(sizes):
        keep = args.keep and index == len(sizes) - 1
        rows += bench_lab(argparse.Namespace(**{**vars(args), "keep": keep}), hosts, env, home)
    print_table(rows, args.repeat, args.distro)


if __name__ == "__main__":
    main()
