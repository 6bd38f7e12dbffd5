"""A real Cisco IOS simulator for the network tests: ``fake-switches`` 1.5.0 on loopback.

What it is (checked by hand, 2026-11-30): login ``root``/``root`` by default (``--username``,
``--password``); it logs in unprivileged (``switch>``) and ``enable`` takes an empty secret
(it keeps the password as bytes and compares it with text), so netmiko's ``cisco_ios`` driver
works with ``secret=""``; the configuration lives in the process (kept across connections,
lost when it stops); configuration mode knows ``vlan``, ``interface``, ``ip route``/``ip vrf``
and ``exit`` but not ``end`` nor global service lines (``No such command : ...``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USERNAME = "root"
PASSWORD = "switch-login-pw"  # a distinctive value: tests assert it appears nowhere


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def program() -> str:
    found = shutil.which("fake-switches") or str(Path(sys.executable).parent / "fake-switches")
    if not Path(found).exists():
        raise RuntimeError("fake-switches is not installed (./dev setup installs it)")
    return found


@dataclass
class FakeSwitch:
    port: int
    process: subprocess.Popen[bytes]
    hostname: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def alive(self) -> bool:
        return self.process.poll() is None


def start(hostname: str = "switch", port: int | None = None, log: Path | None = None) -> FakeSwitch:
    """A fake-switches process listening on 127.0.0.1; returns when the port accepts."""
    port = port or free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
    process = subprocess.Popen(
        [
            program(),
            "--model",
            "cisco_generic",
            "--hostname",
            hostname,
            "--username",
            USERNAME,
            "--password",
            PASSWORD,
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            str(port),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    switch = FakeSwitch(port, process, hostname)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"fake-switches exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return switch
        except OSError:
            time.sleep(0.1)
    switch.stop()
    raise RuntimeError(f"fake-switches did not listen on port {port} within 30 s")


# controls the simulator can hold (it knows vlans and interfaces, not global IOS service lines)
CONTROLS = [
    {"id": "sw.vlan_users", "type": "required", "line": "vlan 10"},
    {
        "id": "sw.uplink_description",
        "type": "required",
        "section": "^interface FastEthernet0/1$",
        "line": "description uplink",
    },
    {
        "id": "sw.no_shutdown_fa2",
        "type": "forbidden",
        "section": "^interface FastEthernet0/2$",
        "line": "shutdown",
    },
]


def configure(switch: FakeSwitch, commands: list[str]) -> None:
    """A technician's change by hand, in configuration mode (left with ``exit``)."""
    from netmiko import ConnectHandler

    conn = ConnectHandler(
        device_type="cisco_ios",
        host="127.0.0.1",
        port=switch.port,
        username=USERNAME,
        password=PASSWORD,
        secret="",
    )
    conn.enable()
    conn.send_config_set(commands, exit_config_mode=False)
    conn.exit_config_mode(exit_config="exit")
    conn.disconnect()


def write_client(
    directory: Path,
    ports: dict[str, int],
    *,
    tier: str = "gold",
    password: str = PASSWORD,
    network_vars: dict[str, Any] | None = None,
) -> Path:
    """A client inventory whose `network` group holds simulated switches (name -> port); the
    tier's IOS controls are replaced by none (the simulator knows no global service lines)."""
    import yaml

    (directory / "group_vars").mkdir(parents=True)
    contract = {"tier": tier, "start": "2026-01-01"}
    (directory / "client.yml").write_text(
        yaml.safe_dump({"name": directory.name, "timezone": "UTC", "contract": contract})
    )
    hosts = {name: {"ansible_host": "127.0.0.1", "ansible_port": p} for name, p in ports.items()}
    (directory / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"network": {"hosts": hosts}}}})
    )
    group_vars = {
        "network_username": USERNAME,
        "network_password": password,  # a vault file in real life
        "network_controls": [],
        **(network_vars or {}),
    }
    (directory / "group_vars" / "network.yml").write_text(yaml.safe_dump(group_vars))
    return directory
