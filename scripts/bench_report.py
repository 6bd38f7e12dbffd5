#!/usr/bin/env python3
"""Benchmark of the monthly client report at fleet scale (issue 11).

Builds a synthetic store with scripts/bench_store.py's generator (CLIENTS x HOSTS x CONTROLS x
30 nightly runs in October 2026, default 1,000 x 10 x 50), adds the service tasks the monthly
report reads (a patch session every Saturday, a restore test every Sunday, per host), then
measures end to end with the real `mspctl` command:
  - `mspctl report --all --month 2026-10 --format html -o DIR` (target: under 2 minutes),
  - PDF throughput: `mspctl report --all --month 2026-10 --format pdf` on a project holding a
    sample of N clients (reports per second, chromium printing several at a time).

    .venv/bin/python scripts/bench_report.py [--clients 1000] [--pdf-sample 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MONTH = "2026-10"


def bench_store():  # scripts/ is not a package: load the store generator by path
    spec = importlib.util.spec_from_file_location(
        "bench_store", ROOT / "scripts" / "bench_store.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def add_service_tasks(home: Path) -> int:
    """Patch and restore-test task results for every run and host of the generated store."""
    from sqlalchemy import insert, select

    from mspctl.store import Store
    from mspctl.store.models import Run, RunHost, TaskRecord

    store = Store.open(f"sqlite:///{home / 'mspctl.db'}")
    rows = []
    with store.engine.begin() as conn:
        for run_id, started, host in conn.execute(
            select(Run.id, Run.started_at, RunHost.host).join(RunHost, RunHost.run_id == Run.id)
        ):
            weekday = started.weekday()
            rows.append(
                {
                    "run_id": run_id,
                    "host": host,
                    "policy": "patching",
                    "role": "patching",
                    "task": "Apply the updates",
                    "action": "mspctl.policy.apt_upgrade",
                    "status": "changed" if weekday == 5 else "ok",
                    "changed": weekday == 5,
                }
            )
            rows.append(
                {
                    "run_id": run_id,
                    "host": host,
                    "policy": "backup_agent",
                    "role": "backup_agent",
                    "task": "Run the restore test when it is due",
                    "action": "mspctl.policy.restore_test",
                    "status": "changed" if weekday == 6 else "ok",
                    "changed": weekday == 6,
                }
            )
        for i in range(0, len(rows), 50_000):
            conn.execute(insert(TaskRecord), rows[i : i + 50_000])
    store.engine.dispose()
    return len(rows)


def children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sample_project(project: Path, sample: Path, clients: int) -> None:
    """A project with the first ``clients`` clients only (same tiers and playbooks)."""
    sample.mkdir(parents=True, exist_ok=True)
    for part in ("tiers", "playbooks"):
        if not (sample / part).exists():
            shutil.copytree(project / part, sample / part)
    (sample / "inventories").mkdir(exist_ok=True)
    for folder in sorted((project / "inventories").iterdir())[:clients]:
        if not (sample / "inventories" / folder.name).exists():
            shutil.copytree(folder, sample / "inventories" / folder.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--controls", type=int, default=50)
    parser.add_argument("--pdf-sample", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="build in (and keep) this directory")
    parser.add_argument("--pdf-only", action="store_true", help="skip the HTML of the fleet")
    args = parser.parse_args()

    base = args.keep or Path(tempfile.mkdtemp(prefix="mspctl-bench-report-"))
    project, home = base / "project", base / "home"
    if not (home / "mspctl.db").exists():
        project.mkdir(parents=True, exist_ok=True)
        home.mkdir(parents=True, exist_ok=True)
        print(f"building {args.clients} clients x {args.hosts} hosts x 30 nights in {base}")
        t0 = time.perf_counter()
        bench_store().build(project, home, args.clients, args.hosts, args.controls, 30, 0.01)
        tasks = add_service_tasks(home)
        print(f"built in {time.perf_counter() - t0:.1f} s ({tasks} service task results)")

    load_before = f"{os.getloadavg()[0]:.1f}"
    env = {**os.environ, "MSPCTL_PROJECT_DIR": str(project), "MSPCTL_HOME": str(home)}
    env.pop("MSPCTL_DB_URL", None)
    mspctl = [sys.executable, "-m", "mspctl"]

    html = None
    if not args.pdf_only:
        html_dir = base / "html"
        shutil.rmtree(html_dir, ignore_errors=True)
        html_dir.mkdir()
        cpu0 = children_cpu()
        t0 = time.perf_counter()
        subprocess.run(
            [
                *mspctl,
                "-q",
                "report",
                "--all",
                "--month",
                MONTH,
                "--format",
                "html",
                "-o",
                str(html_dir),
            ],
            env=env,
            check=True,
        )
        html_seconds = time.perf_counter() - t0
        html_cpu = children_cpu() - cpu0
        files = list(html_dir.iterdir())
        size = sum(p.stat().st_size for p in files)
        html = (html_seconds, html_cpu, files, size)

    sample = base / "sample"
    sample_project(project, sample, args.pdf_sample)
    pdf_dir = base / "pdf"
    shutil.rmtree(pdf_dir, ignore_errors=True)
    pdf_dir.mkdir()
    t0 = time.perf_counter()
    subprocess.run(
        [*mspctl, "-q", "report", "--all", "--month", MONTH, "--format", "pdf", "-o", str(pdf_dir)],
        env={**env, "MSPCTL_PROJECT_DIR": str(sample)},
        check=True,
    )
    pdf_seconds = time.perf_counter() - t0
    pdfs = list(pdf_dir.iterdir())

    print(f"\nmonth {MONTH}, {args.clients} clients x {args.hosts} hosts, {os.cpu_count()} CPUs")
    print(f"load average before/after: {load_before} / {os.getloadavg()[0]:.1f}")
    if html is not None:
        html_seconds, html_cpu, files, size = html
        count = max(1, len(files))
        verdict = "met" if html_seconds < 120 else "MISSED"
        print(
            f"report --all --month html: {html_seconds:7.1f} s for {len(files)} reports "
            f"({html_seconds / count * 1000:.0f} ms each, {size / count / 1024:.0f} KiB each; "
            f"target 120 s: {verdict})"
        )
        print(
            f"  CPU time (all processes): {html_cpu:.1f} s = {html_cpu / count * 1000:.0f} ms "
            "per report (what a machine of its own needs, divided by its cores)"
        )
    print(
        f"report --all --month pdf:  {pdf_seconds:7.1f} s for {len(pdfs)} reports "
        f"= {len(pdfs) / pdf_seconds:.2f} reports/s (end to end, chromium in parallel)"
    )
    if not args.keep:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
