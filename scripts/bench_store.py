#!/usr/bin/env python3
"""Benchmark of the run store at fleet scale (issue: compliance and drift).

Builds a synthetic store of CLIENTS x HOSTS x CONTROLS x RUNS nightly runs (default
1,000 x 10 x 50 x 30) in a throw-away project, then measures, in process and end to end
(the real `mspctl` command, including Python start-up):
  - `mspctl diff CLIENT` for one client,
  - `mspctl diff --all` for the fleet,
  - `mspctl report CLIENT --format json`,
and the everyday read commands end to end (tiers list/show, clients list/show on this tree's
project, runs list on the benchmark store), each after one uncounted warm-up run, with byte
code cached as an installed mspctl has it; and prints the store size per run. ``--startup``
times only the commands end to end. Each nightly run flips about FLIP of the controls. Every
timed command prints its median against its goal (issue 13) and a pass/FAIL verdict. The
commands run in this tree's root, so ``python -m mspctl`` is this tree's mspctl whatever the
venv's editable install points at.

    .venv/bin/python scripts/bench_store.py [--clients 1000] [--runs 30] [--keep DIR] [--startup]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POLICIES = ("assets", "patching", "backup_agent", "monitoring", "baseline")


def build(
    project: Path, home: Path, clients: int, hosts: int, controls: int, runs: int, flip: float
) -> None:
    from sqlalchemy import insert

    from mspctl.store import Store
    from mspctl.store.models import AssetRecord, ControlState, Finding, Run, RunHost

    rng = random.Random(42)
    shutil.copytree(ROOT / "tiers", project / "tiers")
    shutil.copytree(ROOT / "playbooks", project / "playbooks")
    (project / "inventories").mkdir()
    for c in range(clients):
        d = project / "inventories" / f"client-{c:04d}"
        d.mkdir()
        (d / "client.yml").write_text(
            f"name: Client {c}\ntimezone: Europe/Paris\n"
            "contract: {tier: gold, start: 2026-01-01}\n"
        )
        body = "".join(f"        h{h:02d}:\n" for h in range(hosts))
        (d / "hosts.yml").write_text(f"all:\n  children:\n    servers:\n      hosts:\n{body}")
        (d / "waivers.yml").write_text("waivers: []\n")
    store = Store.open(f"sqlite:///{home / 'mspctl.db'}")
    start = dt.datetime(2026, 10, 1, 1, 0, tzinfo=dt.UTC)
    control_ids = [f"{POLICIES[i % len(POLICIES)]}.control_{i:02d}" for i in range(controls)]
    state = {}
    seq = 0
    with store.engine.begin() as conn:
        for night in range(runs):
            run_rows, host_rows, finding_rows, asset_rows = [], [], [], []
            for c in range(clients):
                seq += 1
                client = f"client-{c:04d}"
                run_id = f"{night:02d}-{c:04d}"
                started = start + dt.timedelta(days=night, seconds=c)
                run_rows.append(
                    {
                        "id": run_id,
                        "seq": seq,
                        "client": client,
                        "tier": "gold",
                        "contract_tier": "gold",
                        "tier_source": "contract",
                        "mode": "apply",
                        "diff": False,
                        "user": "ci",
                        "controller": "bench",
                        "started_at": started,
                        "ended_at": started + dt.timedelta(minutes=3),
                        "status": "successful",
                        "rc": 0,
                        "limit": None,
                        "policies": list(POLICIES),
                        "engine": "mitogen",
                        "artifacts_dir": "-",
                        "mspctl_version": "bench",
                        "fingerprints": {},
                        "full": True,
                    }
                )
                for h in range(hosts):
                    host = f"h{h:02d}"
                    host_rows.append(
                        {
                            "run_id": run_id,
                            "host": host,
                            "ok": 40,
                            "changed": 0,
                            "failed": 0,
                            "unreachable": 0,
                            "skipped": 2,
                            "rescued": 0,
                            "ignored": 0,
                        }
                    )
                    if night == 0 or rng.random() < 0.01:
                        asset_rows.append(
                            {
                                "client": client,
                                "host": host,
                                "run_seq": seq,
                                "run_id": run_id,
                                "digest": f"{seq}-{h}",
                                "record": {"memory_mb": 2048 + night, "serial": host},
                            }
                        )
                    for control in control_ids:
                        key = (client, host, control)
                        old = state.get(key)
                        if old is None:
                            new = "pass" if rng.random() > 0.05 else "fail"
                        elif rng.random() < flip:
                            new = "fail" if old == "pass" else "pass"
                        else:
                            continue
                        state[key] = (new, seq)
                        finding_rows.append(
                            {
                                "client": client,
                                "host": host,
                                "control_id": control,
                                "run_seq": seq,
                                "run_id": run_id,
                                "policy": control.split(".")[0],
                                "status": new,
                                "previous_status": old[0] if old else None,
                                "title": f"Control {control}",
                                "expected": "ok",
                                "actual": new,
                                "evidence": {"night": night},
                            }
                        )
            conn.execute(insert(Run), run_rows)
            conn.execute(insert(RunHost), host_rows)
            conn.execute(insert(Finding), finding_rows)
            if asset_rows:
                conn.execute(insert(AssetRecord), asset_rows)
            print(f"  night {night + 1}/{runs}: {len(finding_rows)} finding changes", flush=True)
        conn.execute(
            insert(ControlState),
            [
                {
                    "client": c,
                    "host": h,
                    "control_id": k,
                    "policy": k.split(".")[0],
                    "status": s,
                    "title": f"Control {k}",
                    "expected": "ok",
                    "actual": s,
                    "evidence": {},
                    "since_run_seq": since,
                    "last_run_seq": seq,
                }
                for (c, h, k), (s, since) in state.items()
            ],
        )


def timed(fn, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), min(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--controls", type=int, default=50)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--flip", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build in (and keep) this directory")
    parser.add_argument(
        "--startup",
        action="store_true",
        help="only the commands end to end (process start included), not the in-process queries",
    )
    args = parser.parse_args()

    base = args.keep or Path(tempfile.mkdtemp(prefix="mspctl-bench-"))
    project, home = base / "project", base / "home"
    if not (home / "mspctl.db").exists():
        project.mkdir(parents=True, exist_ok=True)
        home.mkdir(parents=True, exist_ok=True)
        print(
            f"building {args.clients} clients x {args.hosts} hosts x {args.controls} controls "
            f"x {args.runs} runs in {base}"
        )
        t0 = time.perf_counter()
        build(project, home, args.clients, args.hosts, args.controls, args.runs, args.flip)
        print(f"built in {time.perf_counter() - t0:.1f} s")

    os.environ.update(MSPCTL_PROJECT_DIR=str(project), MSPCTL_HOME=str(home))
    from mspctl.compliance import client_diff, fleet_diff
    from mspctl.reports import build as build_report
    from mspctl.store.models import Finding, Run
    from mspctl.workspace import Workspace

    workspace = Workspace(project_dir=project, home=home)
    with workspace.store.session() as session:
        runs = session.query(Run).count()
        findings = session.query(Finding).count()
    size = (home / "mspctl.db").stat().st_size

    rows: list[tuple[str, tuple[float, float], float | None]] = []
    if not args.startup:
        rows += [
            (
                "diff one client (in process)",
                timed(lambda: client_diff(workspace, "client-0042", None, None), args.repeat),
                0.100,
            ),
            (
                "diff --all (in process, store only)",
                timed(lambda: fleet_diff(workspace), args.repeat),
                1.0,
            ),
            (
                "report json one client (in process)",
                timed(lambda: build_report(workspace, "client-0042", None), args.repeat),
                0.100,
            ),
        ]
    mspctl = [sys.executable, "-m", "mspctl"]
    # as installed: byte code cached (with PYTHONDONTWRITEBYTECODE every run compiles mspctl)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(MSPCTL_PROJECT_DIR=str(project), MSPCTL_HOME=str(home))
    # the everyday commands on a small project: this tree's tiers and its demo client
    small = {**env, "MSPCTL_PROJECT_DIR": str(ROOT)}

    def cli(*argv: str, on: dict[str, str] = env) -> None:
        subprocess.run([*mspctl, *argv], env=on, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

    def timed_cli(*argv: str, on: dict[str, str] = env) -> tuple[float, float]:
        cli(*argv, on=on)  # warm-up, not counted: writes the byte code, warms the page cache
        return timed(lambda: cli(*argv, on=on), args.repeat)

    rows += [
        (
            "mspctl diff client-0042 --json (end to end)",
            timed_cli("diff", "client-0042", "--json"),
            None,
        ),
        ("mspctl diff --all --json (end to end)", timed_cli("diff", "--all", "--json"), 0.25),
        (
            "mspctl report client-0042 --format json (end to end)",
            timed_cli("report", "client-0042", "--format", "json"),
            0.25,
        ),
        ("mspctl --help (start-up floor)", timed_cli("--help"), None),
        ("mspctl tiers list", timed_cli("tiers", "list", on=small), 0.2),
        ("mspctl tiers show gold", timed_cli("tiers", "show", "gold", on=small), 0.2),
        ("mspctl clients list", timed_cli("clients", "list", on=small), 0.2),
        ("mspctl clients show demo", timed_cli("clients", "show", "demo", on=small), 0.2),
        ("mspctl runs list (the benchmark store)", timed_cli("runs", "list"), 0.2),
    ]
    print(
        f"\nstore: {runs} runs, {findings} finding changes, {size / 1e6:.1f} MB "
        f"= {size / runs / 1024:.1f} KiB per run"
    )
    print(f"{'measure':55} {'median':>9} {'best':>9} {'goal':>7} {'ratio':>7} {'verdict':>7}")
    failed = 0
    for name, (median, best), goal in rows:
        ratio = f"{median / goal:.2f}" if goal else "-"
        goal_s = f"{goal * 1000:.0f} ms" if goal else "-"
        verdict = "-" if not goal else "pass" if median <= goal else "FAIL"
        failed += verdict == "FAIL"
        print(
            f"{name:55} {median * 1000:7.1f}ms {best * 1000:7.1f}ms {goal_s:>7} {ratio:>7} "
            f"{verdict:>7}"
        )
    goals = sum(1 for *_, goal in rows if goal)
    print(
        f"\n{goals - failed} of {goals} goals met (median of {args.repeat} runs; the goals are "
        "for a quiet machine: on a loaded one compare against another tree's run instead)"
    )
    if not args.keep:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
