"""Issue 16 on the lab, end to end: an alert reaches a person and the SLA clock runs.

A platinum lab client (host 1: the MSP monitoring host, Prometheus and Alertmanager; host 2: a
server). The monitoring role configures Alertmanager to page by email through a real SMTP server
(aiosmtpd, its Maildir handler) and to post to ``mspctl incidents serve``, both started by this
test on the lab bridge's host-side address, the one address of this machine the lab's hosts
can reach (the test opens those two ports in the lab's own firewall table for its life).

Stop the server's node exporter → MspctlHostDown fires → an email arrives and an incident with a
60-minute business deadline exists → ``incidents ack`` records who and when → start the exporter
→ Alertmanager's resolution closes the incident. Then book maintenance over that host, apply,
stop the exporter again → no email and no incident while Prometheus sees the host down.

The host-down ``for:`` and Alertmanager's group timings are shortened through the role's
variables (the client's group_vars), so the test takes minutes, not the tier's 5.
"""

from __future__ import annotations

import datetime as dt
import json
import mailbox
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from lab_helpers import Lab, require_lab, test_lab_name

from mspctl.incidents.businesstime import business_minutes
from mspctl.incidents.sla import calendar_of
from mspctl.lab import LabState
from mspctl.lab.state import nft_table

pytestmark = [pytest.mark.lab, pytest.mark.slow]
LAB_DISTRO = os.environ.get("MSPCTL_LAB_DISTRO", "bookworm")
ROOT = Path(__file__).resolve().parents[2]
PAGE_TO = "oncall@msp.example"
# the tier's timings, shortened: host down after 10 s, critical alerts grouped for 1 s and
# their resolution flushed within 5 s (the dicts are set whole, as the role's defaults say)
TEST_VARS: dict[str, Any] = {
    "monitoring_alert_for": {
        "host_down": "10s",
        "metrics_stale": "10m",
        "disk_full": "5m",
        "disk_warn": "30m",
        "failed_units": "10m",
        "backup_too_old": "15m",
        "restore_test_failed": "15m",
        "reboot_required": "24h",
        "security_updates": "8d",
        "smart_unhealthy": "5m",
    },
    "monitoring_alert_routing": {
        "critical": {"group_wait": "1s", "group_interval": "5s", "repeat_interval": "1h"},
        "warning": {"group_wait": "1m", "group_interval": "10m", "repeat_interval": "4h"},
        "info": {"group_wait": "1h", "group_interval": "24h", "repeat_interval": "24h"},
    },
}
ALERT_TIMEOUT = 300.0  # seconds: scrape (30 s) + evaluation (30 s) + for + group_wait, with margin


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def _wait_for(what: str, probe: Callable[[], Any], timeout: float, every: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(every)


def _wait_listening(address: str, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    def listening() -> bool:
        assert process.poll() is None, log.read_text()
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex((address, port)) == 0

    _wait_for(f"a listener on {address}:{port}", listening, 120, 0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End a process this test started, by its PID, and prove it is gone."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)
    assert process.poll() is not None
    assert not Path(f"/proc/{process.pid}").exists(), f"process {process.pid} is still there"


@pytest.fixture
def platinum_lab(cli: Any, project: Path) -> Iterator[tuple[str, Lab]]:
    require_lab()
    name = test_lab_name("incidents")
    result = cli("lab", "up", "2", "--name", name, "--distro", LAB_DISTRO)
    assert result.exit_code == 0, result.output
    try:
        state = LabState.load(name)
        assert state is not None
        client = project / "inventories" / name / "client.yml"
        client.write_text(client.read_text().replace("tier: gold", "tier: platinum"))
        yield name, Lab(state)
    finally:
        (project / "inventories" / name / "group_vars" / "all" / "incidents.yml").unlink(
            missing_ok=True
        )
        cli("lab", "down", "--name", name)


@pytest.fixture
def delivery(
    platinum_lab: tuple[str, Lab], tmp_path: Path, cli: Any
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """aiosmtpd and ``mspctl incidents serve`` on the bridge's host-side address, reachable
    from the lab through two ports opened in the lab's firewall table; ended by PID after."""
    name, lab = platinum_lab
    address = lab.state.gateway
    smtp_port, hook_port = _free_port(address), _free_port(address)
    maildir = tmp_path / "maildir"
    env = dict(os.environ, **cli.env, PYTHONPATH=str(ROOT))
    smtp_log, hook_log = tmp_path / "smtp.log", tmp_path / "receiver.log"
    processes = []
    with smtp_log.open("wb") as out:
        smtp = subprocess.Popen(
            [
                *(sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{address}:{smtp_port}"),
                *("-c", "aiosmtpd.handlers.Mailbox", str(maildir)),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    processes.append(smtp)
    listen = f"{address}:{hook_port}"
    with hook_log.open("wb") as out:
        receiver = subprocess.Popen(
            [sys.executable, "-m", "mspctl", "incidents", "serve", "--listen", listen],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    processes.append(receiver)
    rule = (
        f'iifname "{lab.state.bridge}" ip daddr {address} '
        f"tcp dport {{ {smtp_port}, {hook_port} }} accept"
    )
    try:
        _wait_listening(address, smtp_port, smtp, smtp_log)
        _wait_listening(address, hook_port, receiver, hook_log)
        subprocess.run(
            ["nft", "insert", "rule", "inet", nft_table(name), "input", *rule.split()],
            check=True,
        )
        group_vars = cli.project / "inventories" / name / "group_vars" / "all"
        settings = {
            **TEST_VARS,
            "monitoring_alertmanager": {
                "email": {
                    "smarthost": f"{address}:{smtp_port}",
                    "from": "alerts@msp.example",
                    "require_tls": False,
                    "page_to": PAGE_TO,
                },
                "page_webhooks": [],
            },
            "monitoring_incidents_listen": f"{address}:{hook_port}",
        }
        (group_vars / "incidents.yml").write_text(
            "# the lab incidents test: delivery to this machine, shortened timings\n"
            + yaml.safe_dump(settings, sort_keys=False)
        )
        yield maildir, {"smtp": smtp, "receiver": receiver, "hook_log": hook_log}
    finally:
        for process in processes:
            _stop(process)


def _prometheus(lab: Lab, query: str) -> list[dict[str, Any]]:
    """An instant query on the MSP monitoring host's Prometheus (over SSH, on its loopback)."""
    url = "http://127.0.0.1:9090/api/v1/query?query=" + urllib.parse.quote(query)
    done = lab.ssh(
        lab.hosts[0],
        "python3 -c 'import sys, urllib.request; "
        f"print(urllib.request.urlopen(sys.argv[1]).read().decode())' '{url}'",
    )
    answer = json.loads(done.stdout)
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def _mails(maildir: Path) -> list[Any]:
    return list(mailbox.Maildir(maildir)) if (maildir / "new").is_dir() else []


def _text(message: Any) -> str:
    """The subject and every decoded text part of an email."""
    parts = [str(message["Subject"])]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_payload(decode=True).decode(errors="replace"))
    return "\n".join(parts)


def _incidents(cli: Any, name: str, instance: str) -> list[dict[str, Any]]:
    rows = cli.json("incidents", "list", name)
    return [i for i in rows if i["host"] == instance and i["alertname"] == "MspctlHostDown"]


def test_host_down_pages_records_acks_and_resolves_but_not_in_maintenance(
    cli: Any, platinum_lab: tuple[str, Lab], delivery: tuple[Path, dict[str, Any]]
) -> None:
    name, lab = platinum_lab
    maildir, started = delivery
    hosts = sorted(lab.hosts, key=lambda h: h.index)
    monitor, server = hosts[0], hosts[1]
    instance = server.name  # the scrape target's instance label: the inventory name

    applied = cli("apply", name, "--policy", "monitoring", "--json")
    assert applied.exit_code == 0, applied.output
    up = f'up{{job="mspctl", instance="{instance}"}}'
    down_alerts = f'ALERTS{{alertname="MspctlHostDown", instance="{instance}"}}'
    _wait_for(
        "the server scraped", lambda: [r for r in _prometheus(lab, up) if r["value"][1] == "1"], 120
    )
    assert _mails(maildir) == [] and _incidents(cli, name, instance) == []

    # 1. the server's exporter stops: a page by email and one incident, 60 business minutes
    stopped = time.monotonic()
    lab.ssh(server, "systemctl stop prometheus-node-exporter")
    mails = _wait_for("the page email", lambda: _mails(maildir), ALERT_TIMEOUT)
    first_alert = time.monotonic() - stopped
    page = mails[0]
    assert PAGE_TO in page["To"], page["To"]
    body = _text(page)
    assert "MspctlHostDown" in body and server.name in body, body[:2000]
    found = _wait_for("the incident", lambda: _incidents(cli, name, instance), 60)
    incident_after = time.monotonic() - stopped
    assert len(found) == 1, found
    incident = found[0]
    assert incident["client"] == name and incident["status"] == "open"
    assert incident["severity"] == "critical"
    assert incident["sla"]["minutes"] == 60  # platinum: 1 h for servers
    started_at = dt.datetime.fromisoformat(incident["started_at"])
    due_at = dt.datetime.fromisoformat(incident["sla"]["due_at"])
    calendar = calendar_of(incident["sla"]["calendar"])
    assert incident["sla"]["calendar"]["timezone"] == "Europe/Paris"
    assert business_minutes(calendar, started_at, due_at) == pytest.approx(60)
    assert due_at > started_at

    # 2. the first response: who and when
    acked = cli.json("incidents", "ack", str(incident["id"]), "--by", "lab-oncall")
    assert acked["acked_by"] == "lab-oncall"
    acked_at = dt.datetime.fromisoformat(acked["acked_at"])
    assert abs((acked_at - dt.datetime.now(dt.UTC)).total_seconds()) < 120
    assert acked["sla"]["state"] == "met"  # answered within minutes of a 60-minute deadline
    shown = cli.json("incidents", "show", str(incident["id"]))
    assert (shown["acked_by"], shown["acked_at"]) == ("lab-oncall", acked["acked_at"])

    # 3. the exporter is back: Alertmanager's resolution closes the incident
    lab.ssh(server, "systemctl start prometheus-node-exporter")
    restarted = time.monotonic()

    def resolved() -> list[dict[str, Any]]:
        rows = _incidents(cli, name, instance)
        return [i for i in rows if i["status"] == "resolved"]

    closed = _wait_for("the resolution", resolved, ALERT_TIMEOUT)
    resolved_after = time.monotonic() - restarted
    assert [i["id"] for i in closed] == [incident["id"]]
    assert closed[0]["resolved_by"] == "alertmanager"
    assert len(_incidents(cli, name, instance)) == 1  # a repeat opened nothing
    _wait_for("no alert left", lambda: not _prometheus(lab, down_alerts), 120)
    # the page's resolution notice (send_resolved) comes by email too
    mails_before = len(_wait_for("the resolution email", lambda: _mails(maildir)[1:], 60)) + 1

    # 4. booked maintenance over the server: the same failure pages nobody, opens nothing
    zone = ZoneInfo("Europe/Paris")
    start = (dt.datetime.now(zone) + dt.timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M")
    booked = cli(
        "maintenance", "book", name, "--start", start, "--duration", "1h", "--reason",
        "lab incidents test", "--hosts", server.name,
    )  # fmt: skip
    assert booked.exit_code == 0, booked.output
    applied = cli("apply", name, "--policy", "monitoring", "--json")
    assert applied.exit_code == 0, applied.output
    in_maintenance = f'mspctl_maintenance_end_timestamp_seconds{{instance="{instance}"}} > time()'
    _wait_for(
        "the maintenance seen by Prometheus", lambda: _prometheus(lab, in_maintenance), 300, 5
    )
    lab.ssh(server, "systemctl stop prometheus-node-exporter")
    quiet_from = time.monotonic()
    quiet_until = quiet_from + first_alert + 90
    saw_down = False
    while time.monotonic() < quiet_until:
        saw_down = saw_down or any(r["value"][1] == "0" for r in _prometheus(lab, up))
        time.sleep(5)
    assert saw_down, "Prometheus never saw the server down: the test proved nothing"
    assert _prometheus(lab, down_alerts) == []
    assert len(_mails(maildir)) == mails_before
    assert [i["id"] for i in _incidents(cli, name, instance)] == [incident["id"]]
    assert started["receiver"].poll() is None and started["smtp"].poll() is None
    lab.ssh(server, "systemctl start prometheus-node-exporter")
    assert monitor.name != server.name
    print(  # the figures of the run (pytest -rP shows them)
        f"page email {first_alert:.0f} s and incident {incident_after:.0f} s after the exporter "
        f"stopped; resolved {resolved_after:.0f} s after it started; maintenance quiet for "
        f"{time.monotonic() - quiet_from:.0f} s with the server down"
    )
