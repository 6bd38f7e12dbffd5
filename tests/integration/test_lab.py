"""The lab on real hosts: identity, network confinement, Ansible over Mitogen with host keys
checked, reboot, and a `down` that leaves nothing behind (also after a killed run).

Every address these tests touch belongs to a lab they made (its hosts and its bridge).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from lab_helpers import Lab, remains, require_lab, test_lab_name

import mspctl.lab as domain
from mspctl.lab import hosts
from mspctl.lab._system import LabError
from mspctl.lab.state import LabState

LAB_DISTRO = os.environ.get("MSPCTL_LAB_DISTRO", "bookworm")

pytestmark = [pytest.mark.lab, pytest.mark.slow]


# -- the session lab ------------------------------------------------------------------------
def test_hosts_are_distinct_booted_debian_hosts(lab: Lab) -> None:
    machine_ids = set()
    for host in lab.hosts:
        out = lab.ssh(
            host,
            "hostname; cat /etc/machine-id; systemctl is-system-running --wait;"
            " ps -p 1 -o comm=; ip -4 -o addr show eth0",
        ).stdout.split("\n")
        hostname, machine_id, system, pid1, addr = out[:5]
        assert hostname == host.name
        assert system == "running", f"{host.name}: {system}"
        assert pid1 == "systemd"
        assert f"inet {host.ip}/24" in addr
        machine_ids.add(machine_id)
    assert len(machine_ids) == len(lab.hosts)
    host_keys = [line.split()[2] for line in lab.state.known_hosts.read_text().splitlines()]
    assert len(set(host_keys)) == len(lab.hosts), "each host has its own SSH host key"
    # the inotify floors of mspctl/lab/kernel.py: without them two labs side by side exhaust
    # Debian's 128 instances and the next hosts' path units fail
    for key, floor in (("max_user_instances", 1024), ("max_user_watches", 524288)):
        assert int(Path(f"/proc/sys/fs/inotify/{key}").read_text()) >= floor, key


def test_inventory_and_client_are_written(lab: Lab) -> None:
    import yaml

    inventory = yaml.safe_load(lab.inventory.read_text())
    first, second, *others = lab.hosts
    children = inventory["all"]["children"]
    assert set(children["servers"]["hosts"]) == {first.name, second.name}
    assert set(children["msp_monitoring"]["hosts"]) == {first.name}
    assert set(children["backup_repository"]["hosts"]) == {first.name}
    assert set(children["workstations"]["hosts"]) == {h.name for h in others}
    hostvars = inventory["all"]["hosts"][first.name]
    assert hostvars["ansible_host"] == first.ip
    assert hostvars["ansible_user"] == "root"
    assert "StrictHostKeyChecking=yes" in hostvars["ansible_ssh_common_args"]
    client = yaml.safe_load((lab.inventory.parent / "client.yml").read_text())
    assert client["contract"]["tier"] == "gold"
    assert set(client) == {"name", "timezone", "contract", "contacts", "sites"}


def test_hosts_reach_each_other_and_the_package_mirror(lab: Lab) -> None:
    first, second, *_ = lab.hosts
    lab.ssh(first, f"timeout 3 bash -c '</dev/tcp/{second.ip}/22'")
    lab.ssh(first, f"getent hosts {second.name} | grep -q {second.ip}")
    out = lab.ssh(first, "apt-get update -q").stdout
    assert "deb.debian.org" in out


def test_the_lab_cannot_reach_this_machine_uninvited(lab: Lab) -> None:
    """A guest connecting to a port open on the lab's own gateway address is dropped."""
    server = socket.socket()
    server.bind((lab.state.gateway, 0))
    server.listen()
    server.settimeout(6)
    port = server.getsockname()[1]
    accepted: list[bool] = []

    def accept() -> None:
        try:
            conn, _ = server.accept()
            conn.close()
            accepted.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        proc = lab.ssh(
            lab.hosts[0], f"timeout 3 bash -c '</dev/tcp/{lab.state.gateway}/{port}'", check=False
        )
    finally:
        thread.join()
        server.close()
    assert proc.returncode != 0 and not accepted
    rules = subprocess.run(
        ["nft", "list", "table", "inet", "mspctl_lab_" + lab.name.replace("-", "_")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "masquerade" in rules and f'iifname "{lab.state.bridge}" counter' in rules


def test_ansible_over_mitogen_checks_the_lab_host_keys(lab: Lab, tmp_path: Path) -> None:
    playbook = tmp_path / "ping.yml"
    playbook.write_text(
        textwrap.dedent("""\
        - name: Reach every lab host
          hosts: all
          gather_facts: false
          tasks:
            - name: Run a command
              ansible.builtin.command: hostname
              changed_when: false
        """)
    )
    for engine in ("mitogen", "stock"):
        ok = lab.playbook(playbook, engine=engine)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        # The same inventory with an empty known_hosts must be refused: checking is on.
        empty = tmp_path / "empty_known_hosts"
        empty.write_text("")
        wrong = tmp_path / f"wrong-{engine}.yml"
        wrong.write_text(lab.inventory.read_text().replace(str(lab.state.known_hosts), str(empty)))
        # (with its own SSH control sockets: a master left by the run above would let
        # ssh skip the host key check)
        control = tmp_path / f"cp-{engine}"
        control.mkdir()
        refused = lab.playbook(
            playbook,
            engine=engine,
            inventory=wrong,
            env={"ANSIBLE_SSH_CONTROL_PATH_DIR": str(control)},
        )
        assert refused.returncode != 0
        assert "host key" in (refused.stdout + refused.stderr).lower()


def test_reboot_returns_and_the_host_is_usable(lab: Lab, tmp_path: Path) -> None:
    host = lab.hosts[-1]
    before = lab.ssh(host, "cat /proc/sys/kernel/random/boot_id").stdout.strip()
    playbook = tmp_path / "reboot.yml"
    playbook.write_text(
        textwrap.dedent(f"""\
        - name: Reboot a lab host
          hosts: {host.name}
          gather_facts: false
          tasks:
            - name: Reboot
              ansible.builtin.reboot:
                reboot_timeout: 120
            - name: Use it
              ansible.builtin.command: systemctl is-system-running --wait
              changed_when: false
        """)
    )
    started = time.monotonic()
    proc = lab.playbook(playbook)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = lab.ssh(host, "cat /proc/sys/kernel/random/boot_id").stdout.strip()
    assert after != before, "the guest really rebooted"
    print(f"reboot round trip (playbook) {elapsed:.1f} s")
    assert "guest rebooted" in lab.state.log_file(host).read_text()


FLAKY_UNITS = """\
cat > /etc/systemd/system/mspctl-flaky.service <<'UNIT'
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'test -e /run/mspctl-flaky || { touch /run/mspctl-flaky; exit 1; }'
UNIT
cat > /etc/systemd/system/mspctl-broken.service <<'UNIT'
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo the image is broken; exit 1'
UNIT
systemctl daemon-reload
"""


def test_a_unit_failed_while_booting_is_started_again_or_named(lab: Lab) -> None:
    """`up` ends with hosts that booted clean: a unit that failed once (an early-boot unit on
    a loaded machine) is started again; one that fails again stops `up`, naming it."""
    host = lab.hosts[0]
    lab.ssh(host, FLAKY_UNITS + "systemctl start mspctl-flaky.service || true")
    try:
        deadline = time.monotonic() + 120
        assert hosts.settle_boot(lab.state, host, deadline) == ["mspctl-flaky.service"]
        lab.ssh(host, "systemctl is-active mspctl-flaky.service")
        lab.ssh(host, "systemctl start mspctl-broken.service || true")
        with pytest.raises(LabError, match=r"mspctl-broken.service failed .* the image is broken"):
            hosts.settle_boot(lab.state, host, deadline)
    finally:
        lab.ssh(
            host,
            "systemctl stop mspctl-flaky.service; systemctl reset-failed;"
            " rm -f /etc/systemd/system/mspctl-flaky.service"
            " /etc/systemd/system/mspctl-broken.service /run/mspctl-flaky;"
            " systemctl daemon-reload",
        )
    assert lab.ssh(host, "systemctl --failed --no-legend --plain").stdout.strip() == ""


def test_status_reports_the_lab(lab: Lab, cli: Callable[..., Result]) -> None:
    result = cli("lab", "status", "--name", lab.name, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["up"] is True
    assert [h["name"] for h in data["hosts"]] == [h.name for h in lab.hosts]


# -- labs of their own ----------------------------------------------------------------------
def test_up_apply_down_leaves_nothing(cli: Callable[..., Result], project: Path) -> None:
    """`mspctl lab up 3 && mspctl apply <lab> --tier bronze && mspctl lab down`."""
    require_lab()
    name = test_lab_name("e2e")
    result = cli("lab", "up", "3", "--name", name, "--distro", LAB_DISTRO)
    assert result.exit_code == 0, result.output
    state = LabState.load(name)
    assert state is not None and state.ready_seconds is not None
    assert state.ready_seconds < 10, f"SSH-ready in {state.ready_seconds} s"
    try:
        result = cli("apply", name, "--tier", "bronze")
        assert result.exit_code == 0, result.output
    finally:
        down = cli("lab", "down", "--name", name)
    assert down.exit_code == 0, down.output
    assert remains(name, state.slot) == []
    assert not (project / "inventories" / name).exists()


def test_down_cleans_up_after_a_killed_run(tmp_path: Path) -> None:
    require_lab()
    name = test_lab_name("killed")
    state = domain.up(name, 2, LAB_DISTRO, tmp_path)
    # A crash: the supervisors die without a word (their guests keep running), state is lost.
    supervisors = [h.supervisor_pid for h in state.hosts if h.supervisor_pid]
    for pid in supervisors:
        os.kill(pid, signal.SIGKILL)
    (state.run_dir / "state.json").unlink()
    assert domain.leftovers(name)
    # `up` over leftovers cleans them first; `down` then removes everything.
    again = domain.up(name, 2, LAB_DISTRO, tmp_path)
    assert domain.status(name).up
    for pid in [h.supervisor_pid for h in again.hosts if h.supervisor_pid]:
        os.kill(pid, signal.SIGKILL)
    (again.run_dir / "state.json").unlink()
    assert domain.down(name)
    assert remains(name, state.slot) == []
    assert remains(name, again.slot) == []


@pytest.mark.parametrize("distro", ["bookworm", "trixie"])
def test_each_distro_builds_and_boots(distro: str, tmp_path: Path) -> None:
    """The distro matrix: the image builds (first run only) and a host boots to `running`."""
    require_lab()
    name = test_lab_name(distro[:2])
    state = domain.up(name, 1, distro, None, timeout=120)
    try:
        lab = Lab(state)
        out = lab.ssh(
            state.hosts[0],
            "systemctl is-system-running --wait; . /etc/os-release; echo $VERSION_CODENAME",
        ).stdout
        assert out.split() == ["running", distro]
    finally:
        domain.down(name)
    assert remains(name, state.slot) == []
