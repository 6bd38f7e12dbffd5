"""A month of service history written through the real store (``Store.add_run`` and
``Store.finish_run``), a client that reads Italian, and a fake Prometheus on loopback."""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

ZONE = ZoneInfo("Europe/Rome")
CLIENT = "rossi"
HOSTS = ("srv01", "srv02", "ws01")
FIRST = dt.date(2026, 10, 1)
DAYS = 31
UNREACHABLE = {(10, "srv02")}  # srv02 misses the run (and its patch window) of the 10th
BACKUP_FAILS = {(5, "ws01"), (6, "ws01")}  # ws01's snapshot too old on the 5th and 6th
DRIFT = {12: "fail", 13: "pass"}  # baseline.ssh_root_login of ws01 drifts on 12th, fixed on 13th
WARRANTIES = {"srv01": "2026-12-15", "srv02": "2026-09-01", "ws01": "2028-01-01"}


@dataclass
class Expected:
    """What the scenario should produce in the report, computed from its definition."""

    runs: int = 0
    failed_runs: int = 0
    unreachable: int = 0
    backup_ok: int = 0
    backup_failed: int = 0
    restore_tests: int = 0
    sessions: int = 0
    security_updates: int = 0
    other_updates: int = 0
    reboots: int = 0
    patched_hosts: set[str] = field(default_factory=set)


def _findings(day: int, host: str) -> list[dict[str, Any]]:
    snapshot = "fail" if (day, host) in BACKUP_FAILS else "pass"
    out: list[dict[str, Any]] = [
        {
            "host": host,
            "control_id": "backup_agent.snapshot_age",
            "policy": "backup_agent",
            "status": snapshot,
            "title": "A recent snapshot exists",
            "evidence": {"snapshots": day},
        },
        {
            "host": host,
            "control_id": "backup_agent.restore_test",
            "policy": "backup_agent",
            "status": "pass",
            "title": "The last restore test passed",
            "evidence": {
                "snapshot": f"snap{(day - 1) // 7:02d}",
                "files": 10,
                "bytes": 48213,
                "checksums_match": True,
            },
        },
        {
            "host": host,
            "control_id": "patching.security_updates",
            "policy": "patching",
            "status": "fail" if host == "ws01" and day == DAYS else "pass",
            "title": "Security updates are applied",
            "evidence": {"packages": ["libssl3", "openssl", "tzdata"] if day == DAYS else []},
        },
    ]
    if host == "ws01":
        status = "pass"
        for d, s in sorted(DRIFT.items()):
            if day >= d:
                status = s
        out.append(
            {
                "host": host,
                "control_id": "baseline.ssh_root_login",
                "policy": "baseline",
                "status": status,
                "title": "Root cannot log in over ssh",
                "evidence": {},
            }
        )
    return out


def write_month(db_url: str) -> Expected:
    """October 2026 of client rossi: one apply run a night at 02:00 Rome time."""
    from mspctl.store import Store
    from mspctl.store.models import MaintenanceBooking, PatchEvent, Run, RunHost, TaskRecord

    store = Store.open(db_url)
    expected = Expected()
    for day in range(1, DAYS + 1):
        date = FIRST + dt.timedelta(days=day - 1)
        started = dt.datetime.combine(date, dt.time(2, 0), tzinfo=ZONE)
        run_id = f"run-{day:02d}"
        store.add_run(
            Run(
                id=run_id,
                client=CLIENT,
                tier="platinum",
                contract_tier="platinum",
                tier_source="contract",
                mode="apply",
                diff=False,
                user="nightly",
                controller="test",
                started_at=started,
                status="running",
                policies=["assets", "patching", "backup_agent", "baseline"],
                engine="mitogen",
                artifacts_dir="/nonexistent",
                mspctl_version="test",
                pid=None,
            )
        )
        hosts, tasks, findings, assets = [], [], [], {}
        saturday = date.weekday() == 5
        sunday = date.weekday() == 6
        for host in HOSTS:
            down = (day, host) in UNREACHABLE
            hosts.append(RunHost(host=host, ok=0 if down else 30, unreachable=int(down)))
            if down:
                expected.unreachable += 1
                continue
            caught_up = (day - 1, host) in UNREACHABLE
            patched = saturday or caught_up
            tasks.append(
                TaskRecord(
                    host=host,
                    policy="patching",
                    role="patching",
                    task="Apply the updates",
                    action="mspctl.policy.apt_upgrade",
                    status="changed" if patched else "ok",
                    changed=patched,
                    diff_summary="after patching: packages" if patched else None,
                    # as results.task_details records a patch run: packages upgraded by kind
                    details={"upgraded": {"security": 3, "other": 1}} if patched else None,
                )
            )
            if patched:
                expected.security_updates += 3
                expected.other_updates += 1
                expected.sessions += 1
                expected.patched_hosts.add(host)
            if patched and host == "srv01" and day <= 7:
                expected.reboots += 1
                tasks.append(
                    TaskRecord(
                        host=host,
                        policy="patching",
                        role="patching",
                        task="Reboot as the reboot policy says, inside the reboot window",
                        action="ansible.builtin.reboot",
                        status="changed",
                        changed=True,
                    )
                )
            if sunday and host != "ws01":
                expected.restore_tests += 1
            tasks.append(
                TaskRecord(
                    host=host,
                    policy="backup_agent",
                    role="backup_agent",
                    task="Run the restore test when it is due",
                    action="mspctl.policy.restore_test",
                    status="changed" if sunday and host != "ws01" else "ok",
                    changed=sunday and host != "ws01",
                )
            )
            findings += _findings(day, host)
            if (day, host) in BACKUP_FAILS:
                expected.backup_failed += 1
            else:
                expected.backup_ok += 1
            assets[host] = {
                "vendor": "Dell",
                "model": f"PowerEdge {host}",
                "memory_mb": 16384 if host == "srv01" and day >= 20 else 8192,
                "warranty": {"warranty_end": WARRANTIES[host], "vendor_contract": f"DELL-{host}"},
            }
        status = "failed" if any(d == day for d, _h in UNREACHABLE) else "successful"
        expected.runs += 1
        expected.failed_runs += status == "failed"
        store.finish_run(
            run_id,
            status=status,
            rc=0 if status == "successful" else 4,
            hosts=hosts,
            tasks=tasks,
            findings=findings,
            assets=assets,
        )
    # run-due's record of the window srv02 missed on the 10th and the patch of the 11th
    for day, host in sorted(UNREACHABLE):
        at = dt.datetime.combine(FIRST + dt.timedelta(days=day - 1), dt.time(2, 0), tzinfo=ZONE)
        miss = PatchEvent(
            client=CLIENT,
            host=host,
            kind="missed",
            host_class="servers",
            at=at,
            recorded_at=at,
            run_id=f"run-{day:02d}",
            failure=True,
            detail="unreachable during its servers window",
        )
        store.add_patch_events([miss])
        store.add_patch_events(
            [
                PatchEvent(
                    client=CLIENT,
                    host=host,
                    kind="caught_up",
                    host_class="servers",
                    at=at + dt.timedelta(days=1),
                    recorded_at=at + dt.timedelta(days=1),
                    run_id=f"run-{day + 1:02d}",
                    missed_id=miss.id,
                    failure=False,
                    detail="patched outside its window",
                )
            ]
        )
    store.add_booking(
        MaintenanceBooking(
            client=CLIENT,
            start_at=dt.datetime(2026, 10, 17, 20, 0, tzinfo=ZONE),
            start_local="2026-10-17 20:00",
            timezone="Europe/Rome",
            duration_seconds=7200,
            hosts="srv01",
            reason="Sostituzione dischi RAID",
            booked_by="tecnico",
            booked_at=dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.UTC),
        )
    )
    store.engine.dispose()
    return expected


def write_client(project: Path, prometheus: str | None, *, language: str = "it") -> None:
    folder = project / "inventories" / CLIENT
    folder.mkdir(parents=True)
    monitoring = (
        f"monitoring: {{prometheus_url: '{prometheus}', timeout_seconds: 3}}\n"
        if prometheus
        else ""
    )
    (folder / "client.yml").write_text(
        "name: Rossi & Figli srl\n"
        "timezone: Europe/Rome\n"
        f"language: {language}\n"
        "contract: {tier: platinum, start: 2026-01-01}\n" + monitoring,
        encoding="utf-8",
    )
    body = "".join(
        f"        {h}:\n          ansible_host: 192.0.2.{i + 10}\n" for i, h in enumerate(HOSTS)
    )
    (folder / "hosts.yml").write_text(f"all:\n  children:\n    servers:\n      hosts:\n{body}")
    (folder / "waivers.yml").write_text(
        "waivers:\n"
        "  - control: baseline.ssh_root_login\n"
        "    hosts: [ws01]\n"
        "    justification: Legacy backup software logs in as root\n"
        "    approved_by: Mario Rossi\n"
        "    expires: 2026-12-31\n"
    )
    (project / "branding.yml").write_text(
        "name: Bianchi Informatica srl\n"
        "logo: logo.svg\n"
        "address: Via Roma 1, 20100 Milano\n"
        'color: "#1f5fa8"\n'
    )
    (project / "logo.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40">'
        '<rect width="120" height="40" fill="#1f5fa8"/></svg>'
    )


class FakePrometheus(ThreadingHTTPServer):
    """Answers ``/api/v1/query_range`` for ``up`` and ``ALERTS`` like a real Prometheus."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.queries: list[str] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    server: FakePrometheus

    def do_GET(self) -> None:
        parsed = urllib.parse.urlparse(self.path)
        params = urllib.parse.parse_qs(parsed.query)
        query = params["query"][0]
        self.server.queries.append(query)
        start, end, step = (int(params[k][0]) for k in ("start", "end", "step"))
        stamps = list(range(start, end + 1, step))
        if query.startswith("up"):
            result = [
                {
                    "metric": {"instance": f"{h}:9100", "mspctl_client": CLIENT},
                    "values": [
                        [t, "0" if h == "srv02" and i < 10 else "1"] for i, t in enumerate(stamps)
                    ],
                }
                for h in HOSTS
            ]
        else:
            result = [
                {
                    "metric": {
                        "alertname": "MspctlHostDown",
                        "instance": "srv02:9100",
                        "severity": "critical",
                    },
                    "values": [[t, "1"] for t in stamps[:3]],
                },
                {
                    "metric": {
                        "alertname": "MspctlDiskFilling",
                        "instance": "srv01:9100",
                        "severity": "warning",
                    },
                    "values": [[t, "1"] for t in stamps[100:105]],
                },
                {
                    "metric": {
                        "alertname": "MspctlRebootPending",
                        "instance": "ws01:9100",
                        "severity": "warning",
                    },
                    "values": [[t, "1"] for t in stamps[200:202]],
                },
            ]
        body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    server = FakePrometheus()
    yield server
    server.stop()


@pytest.fixture
def month_project(project: Path, home: Path, prometheus: FakePrometheus) -> Expected:
    """The project with client rossi (Italian, monitored) and its October 2026 in the store."""
    write_client(project, prometheus.url)
    return write_month(f"sqlite:///{home / 'mspctl.db'}")
