"""SNMP devices without the lab: the monitoring role's exporter modules, rendered by Ansible,
loaded by Debian's real prometheus-snmp-exporter, polling real snmpsim agents that serve the
lab's NAS and printer recordings (mspctl/lab/devices.py); the findings module's logic reads
what the exporter answers. A degraded RAID and an empty toner turn their findings to fail."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from needs import unavailable

from mspctl.lab import devices

ROOT = Path(__file__).resolve().parents[2]
EXPORTER = "/usr/bin/prometheus-snmp-exporter"
PARAMS = {
    "toner_min_percent": 10,
    "nas_temperature_max": 60,
    "nas_free_min_percent": 10,
    "nas_volume_prefixes": ["/volume"],
}
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    monitoring_snmp_community: mspctl-test
    monitoring_host: {client: acme, classes: [nas]}
  tasks:
    - ansible.builtin.template:
        src: %s/roles/monitoring/templates/snmp-modules.yml.j2
        dest: %s
"""


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        self.started.append(process)
        return process

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(10)


@pytest.fixture
def agents_dir() -> Iterator[Path]:
    """snmpsim reads as nobody, who cannot enter pytest's private tmp_path: a 0755 folder."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="mspctl-snmp-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base)


@pytest.fixture
def processes() -> Iterator[Processes]:
    running = Processes()
    try:
        yield running
    finally:
        running.stop()
        assert all(p.poll() is not None for p in running.started)


def agent(processes: Processes, base: Path, kind: str, text: str) -> tuple[Path, int]:
    """A real snmpsim agent on loopback serving ``text`` under the test's community."""
    if os.geteuid() != 0:
        unavailable("snmpsim drops to nobody before it binds: the test runs as root, as CI does")
    data, cache = base / kind, base / f"{kind}.cache"
    data.mkdir(parents=True)
    cache.mkdir()
    for folder in (base, data):
        folder.chmod(0o755)
    shutil.chown(cache, "nobody", "nogroup")
    devices.write_recording(data, text, "mspctl-test")
    port = free_port()
    processes.start(
        [
            sys.executable,
            "-c",
            devices._SNMPSIM,
            f"--data-dir={data}",
            f"--cache-dir={cache}",
            f"--agent-udpv4-endpoint=127.0.0.1:{port}",
            "--process-user=nobody",
            "--process-group=nogroup",
        ],
        base / f"{kind}.log",
    )
    deadline = time.monotonic() + 30
    while devices.snmp_get("127.0.0.1", devices.SYS_DESCR, "mspctl-test", port) is None:
        assert time.monotonic() < deadline, (base / f"{kind}.log").read_text()[-500:]
        time.sleep(0.2)
    return data, port


def scrape(exporter: int, port: int, module: str) -> str:
    url = f"http://127.0.0.1:{exporter}/snmp?target=127.0.0.1:{port}&module={module}"
    with urllib.request.urlopen(url, timeout=20) as response:
        return str(response.read().decode())


@pytest.fixture
def exporter(tmp_path: Path, processes: Processes) -> int:
    if not Path(EXPORTER).exists():
        unavailable("prometheus-snmp-exporter is not installed: run scripts/setup-host")
    config = tmp_path / "snmp.yml"
    playbook = tmp_path / "render.yml"
    playbook.write_text(PLAYBOOK % (ROOT, config))
    env = {**os.environ, "ANSIBLE_HOME": str(tmp_path / "ansible")}
    bindir = Path(sys.executable).parent
    subprocess.run(
        [
            str(bindir / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            str(playbook),
            "-e",
            f"ansible_python_interpreter={sys.executable}",
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=ROOT,
    )
    check = subprocess.run(
        [EXPORTER, "--dry-run", f"--config.file={config}"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    port = free_port()
    processes.start(
        [EXPORTER, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"],
        tmp_path / "exporter.log",
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
            return port
        except OSError:
            assert time.monotonic() < deadline, (tmp_path / "exporter.log").read_text()
            time.sleep(0.2)


def findings(kind: str, text: str) -> dict[str, str]:
    sys.path.insert(0, str(ROOT / "collections"))
    from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_snmp

    samples = mspctl_snmp.parse(text)
    evaluate = mspctl_snmp.nas_findings if kind == "nas" else mspctl_snmp.printer_findings
    return {f["control_id"]: f["status"] for f in evaluate(samples, PARAMS).as_list()}


def test_nas_raid_degraded_fails_its_finding(
    agents_dir: Path, processes: Processes, exporter: int
) -> None:
    base = agents_dir
    data, port = agent(processes, base, "nas", devices.nas_recording(devices.NasState()))
    text = scrape(exporter, port, "acme_nas")
    assert 'synology_raid_status{raid="Volume 1",raidIndex="0"} 1' in text, text
    assert set(findings("nas", text).values()) == {"pass"}, text
    degraded = devices.NasState(raids={"Volume 1": devices.RAID_DEGRADED})
    devices.write_recording(data, devices.nas_recording(degraded), "mspctl-test")
    text = scrape(exporter, port, "acme_nas")
    assert findings("nas", text)["snmp.nas.raid"] == "fail", text
    assert findings("nas", text)["snmp.nas.disks"] == "pass", text


def test_printer_empty_toner_fails_its_finding(
    agents_dir: Path, processes: Processes, exporter: int
) -> None:
    base = agents_dir
    text = devices.printer_recording(devices.PrinterState())
    data, port = agent(processes, base, "printer", text)
    scraped = scrape(exporter, port, "acme_printer")
    assert "prt_marker_life_count" in scraped, scraped
    assert set(findings("printer", scraped).values()) == {"pass"}, scraped
    empty = devices.PrinterState(
        supplies={"Black Toner Cartridge": (0, 10000), "Imaging Drum": (80, 100)},
        device_status=devices.DEVICE_DOWN,
    )
    devices.write_recording(data, devices.printer_recording(empty), "mspctl-test")
    result = findings("printer", scrape(exporter, port, "acme_printer"))
    assert result == {"snmp.printer.status": "fail", "snmp.printer.supplies": "fail"}, result


DEVICE_CLIENT = """\
all:
  hosts:
    office-server: {ansible_host: 192.0.2.10}
    office-nas: {ansible_host: 192.0.2.20, ansible_connection: local}
    office-printer: {ansible_host: 192.0.2.30, ansible_connection: local}
  children:
    servers: {hosts: {office-server: {}}}
    nas: {hosts: {office-nas: {}}}
    printers: {hosts: {office-printer: {}}}
    snmp: {hosts: {office-nas: {}, office-printer: {}}}
"""


def test_snmp_devices_are_reached_by_the_monitoring_policy_only(project: Path, home: Path) -> None:
    """A NAS polled over SNMP is not backed up, patched or checked as a Debian host."""
    from mspctl.engine import ApplyRequest, plan
    from mspctl.workspace import Workspace

    (project / "inventories" / "demo" / "hosts.yml").write_text(DEVICE_CLIENT)
    secrets = project / "inventories" / "demo" / "group_vars" / "all"
    secrets.mkdir(parents=True, exist_ok=True)
    (secrets / "test-secrets.yml").write_text("backup_agent_password: a-test-password\n")
    planned = plan(Workspace(project_dir=project, home=home), ApplyRequest("demo", "platinum"))
    patterns = planned.extravars["mspctl_policies"]
    assert patterns["monitoring"] == "servers:workstations:nas:printers", patterns
    for policy in ("assets", "backup_agent", "baseline", "patching"):
        assert patterns[policy].endswith(":!snmp"), (policy, patterns)
