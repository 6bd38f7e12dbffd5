#!/usr/bin/env python3
"""Benchmark of the incident receiver (issue 16): a burst of ALERTS Alertmanager webhook posts
on loopback, one alert each, from CONCURRENCY keep-alive connections, to a real receiver
(`IncidentReceiver`, as `mspctl incidents serve` runs it) recording into a fresh store.

Prints throughput and latency (p50/p95/max) of the firing burst and of a second burst repeating
every alert, then checks every alert was recorded exactly once (one incident per fingerprint,
each with exactly one repeat).

    .venv/bin/python scripts/bench_incidents.py [--alerts 1000] [--concurrency 8] [--db-url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def burst(port: int, bodies: list[bytes], concurrency: int) -> tuple[float, list[float], list[int]]:
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    chunks = [bodies[i::concurrency] for i in range(concurrency)]

    def worker(chunk: list[bytes]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[tuple[float, int]] = []
        for body in chunk:
            started = time.perf_counter()
            connection.request("POST", "/alerts", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - started, response.status))
        connection.close()
        with lock:
            latencies.extend(m[0] for m in mine)
            statuses.extend(m[1] for m in mine)

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, statuses


def report(name: str, elapsed: float, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(
        f"{name}: {len(ordered)} posts in {elapsed:.2f} s = {len(ordered) / elapsed:.0f}/s; "
        f"latency p50 {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--db-url", help="a store URL [default: SQLite in a temporary folder]")
    args = parser.parse_args()

    from incident_payloads import alert, payload

    from mspctl.incidents.receiver import IncidentReceiver
    from mspctl.incidents.sla import Clocks
    from mspctl.store.queries import incidents
    from mspctl.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="mspctl-bench-incidents-") as home:
        workspace = Workspace(project_dir=ROOT, home=Path(home), db_url=args.db_url)
        store = workspace.store
        clocks = Clocks(workspace)
        clocks.warm()  # as `mspctl incidents serve` does before it listens
        server = IncidentReceiver(("127.0.0.1", 0), store, clocks)
        server.start()
        try:
            now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
            bodies = [
                json.dumps(
                    payload(alert(f"bench{i:06d}", client="demo", host=f"host{i}", starts=now))
                ).encode()
                for i in range(args.alerts)
            ]
            elapsed, latencies, statuses = burst(server.server_address[1], bodies, args.concurrency)
            report("firing", elapsed, latencies)
            elapsed2, latencies2, statuses2 = burst(
                server.server_address[1], bodies, args.concurrency
            )
            report("repeat", elapsed2, latencies2)
        finally:
            server.stop()
        rows = incidents(store)
        fingerprints = {r.fingerprint for r in rows}
        ok = (
            set(statuses + statuses2) == {200}
            and len(rows) == args.alerts
            and len(fingerprints) == args.alerts
            and all(r.repeats == 1 for r in rows)
        )
        print(
            f"recorded: {len(rows)} incidents, {len(fingerprints)} fingerprints, repeats "
            f"{sorted({r.repeats for r in rows})}, HTTP {sorted(set(statuses + statuses2))}: "
            f"{'every alert exactly once' if ok else 'MISMATCH'}"
        )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
