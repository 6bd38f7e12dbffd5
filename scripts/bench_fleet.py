#!/usr/bin/env python3
"""Benchmark: the planning overhead of ``mspctl run-due`` for a fleet with nothing due.

Generates 200 clients (3 local-connection hosts each, time zones round the world) in a copy of
the fleet fixture project, then measures, at an instant when no patch window is open, with the
drift duty off (so nothing runs and only planning is timed):

- ``fleet.plan_fleet`` in-process (loading every client, its inventory and its tier, evaluating
  the windows);
- ``mspctl run-due`` end to end (Python start-up included).

Target: under 5 s for 200 clients. Run: ``python scripts/bench_fleet.py [CLIENTS]``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "projects" / "fleet"
ZONES = ("Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC")
NOTHING_DUE = "2026-12-09T12:00Z"  # a Wednesday noon UTC: no Saturday or Tue/Thu window open


def generate(project: Path, count: int) -> None:
    inventories = project / "inventories"
    shutil.rmtree(inventories)
    for i in range(count):
        client = inventories / f"client-{i:03d}"
        client.mkdir(parents=True)
        zone = ZONES[i % len(ZONES)]
        (client / "client.yml").write_text(
            f"name: Client {i}\ntimezone: {zone}\ncontract: {{tier: silver, start: 2026-01-01}}\n"
        )
        hosts = "".join(
            f"        c{i}-{kind}:\n          ansible_connection: local\n"
            for kind in ("srv1", "srv2")
        )
        (client / "hosts.yml").write_text(
            "all:\n  children:\n    servers:\n      hosts:\n" + hosts
            + "    workstations:\n      hosts:\n"
            + f"        c{i}-ws:\n          ansible_connection: local\n"
        )  # fmt: skip


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    sys.path.insert(0, str(ROOT))
    from mspctl import fleet
    from mspctl.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        project = Path(tmp) / "project"
        shutil.copytree(FIXTURE, project)
        generate(project, count)
        home = Path(tmp) / "home"
        now = fleet.parse_now(NOTHING_DUE)

        started = time.perf_counter()
        workspace = Workspace(project_dir=project, home=home, db_url="")
        plans = fleet.plan_fleet(workspace, now, duties=("patching",))
        planned = time.perf_counter() - started
        errors = [p for p in plans if p.error is not None]
        due = [p for p in plans if not p.idle]
        assert not errors and not due, (errors[:1], due[:1])

        env = {**os.environ, "MSPCTL_PROJECT_DIR": str(project), "MSPCTL_HOME": str(home)}
        env["MSPCTL_DB_URL"] = ""
        command = [sys.executable, "-m", "mspctl", "--quiet", "run-due", "--now", NOTHING_DUE]
        command += ["--duties", "patching", "--json"]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        end_to_end = time.perf_counter() - started
        assert done.returncode == 0, done.stderr

    hosts = count * 3
    print(f"clients: {count}, hosts: {hosts}, nothing due at {NOTHING_DUE}")
    print(f"plan_fleet (in-process):    {planned:6.2f} s  ({planned / count * 1000:.1f} ms/client)")
    print(f"mspctl run-due, end to end: {end_to_end:6.2f} s  (target < 5 s)")
    return 0 if end_to_end < 5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
