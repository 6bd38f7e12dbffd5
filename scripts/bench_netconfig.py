#!/usr/bin/env python3
"""Benchmark of the network policy: configuration backup of DEVICES simulated switches.

Starts DEVICES fake-switches processes (one per port on 127.0.0.1, the simulator of
tests/network), writes a throw-away client whose `network` group holds them, and measures the
real `mspctl apply CLIENT --policy network` end to end (Python start-up, ansible, netmiko,
`show version` parsed with TextFSM, `show running-config` normalised, the git store): a first
run that stores DEVICES configurations, then a second that stores nothing (deduplicated). Prints
the total and the time per device; every simulator is stopped by its PID at the end.

    .venv/bin/python scripts/bench_netconfig.py [--devices 50] [--forks 25]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the simulator helper the network tests use

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


def project_copy(target: Path) -> None:
    target.mkdir()
    for part in PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, target / part, symlinks=True)
        else:
            shutil.copy2(source, target / part)
    (target / "inventories").mkdir()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--forks", type=int, default=25)
    args = parser.parse_args()

    import fakeswitch

    switches: list[fakeswitch.FakeSwitch] = []
    with tempfile.TemporaryDirectory(prefix="bench-netconfig-") as tmp:
        try:
            started = time.monotonic()
            for i in range(args.devices):
                switches.append(fakeswitch.start(f"sw{i:03d}"))
            print(f"{args.devices} simulators listening in {time.monotonic() - started:.1f} s")
            project, home = Path(tmp, "project"), Path(tmp, "home")
            project_copy(project)
            fakeswitch.write_client(
                project / "inventories" / "bench",
                {f"sw{i:03d}": s.port for i, s in enumerate(switches)},
                tier="bronze",  # backup, no remediation
                network_vars={"network_timeout": 60},
            )
            env = {
                **os.environ,
                "MSPCTL_PROJECT_DIR": str(project),
                "MSPCTL_HOME": str(home),
                "MSPCTL_DB_URL": "",
            }
            mspctl = str(Path(sys.executable).parent / "mspctl")
            for label in ("first backup (stores every device)", "second backup (nothing new)"):
                begin = time.monotonic()
                proc = subprocess.run(
                    [
                        mspctl,
                        "apply",
                        "bench",
                        "--policy",
                        "network",
                        "--forks",
                        str(args.forks),
                        "--json",
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                elapsed = time.monotonic() - begin
                if proc.returncode != 0:
                    print(proc.stdout[-2000:], proc.stderr[-2000:])
                    return 1
                summary = json.loads(proc.stdout)
                failed = sum(h["failed"] + h["unreachable"] for h in summary["hosts"].values())
                versions = subprocess.run(
                    ["git", "-C", str(home / "configs" / "bench"), "rev-list", "--count", "HEAD"],
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout.strip()
                print(
                    f"{label}: {elapsed:.1f} s total, {elapsed / args.devices * 1000:.0f} ms per "
                    f"device ({args.forks} forks), {failed} failed, commits in store: {versions}"
                )
        finally:
            for switch in switches:
                switch.stop()
            alive = [s.pid for s in switches if s.alive()]
            print(f"simulators stopped; still alive: {alive or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
