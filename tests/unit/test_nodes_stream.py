"""The streamed path of mspctl.runner against real processes: ansible-runner transmit, its
worker started by the node wrapper (here through ``sh -c`` instead of ssh, so no lab is
needed: the lab proof is tests/integration/test_nodes_lab.py), and process."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mspctl.runner import NodeTarget, PlaybookSpec, run_playbook, run_processes

ROOT = Path(__file__).resolve().parents[2]
SLOW = ROOT / "tests" / "fixtures" / "projects" / "slow"
PASSWORD = "node-stream-vault-password-5d1f"


# What ssh and sshd do for the job, on this machine: run the remote command line under
# `sh -c` without the controller's environment marker, relay its standard input and output;
# killing this relay is a node whose sshd died.
RELAY = """# sshd-like relay
import os, subprocess, sys, threading
env = {k: v for k, v in os.environ.items() if k != "MSPCTL_RUN_ID"}
child = subprocess.Popen(["sh", "-c", sys.argv[1]], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, env=env)
def pump_in():
    while data := os.read(0, 65536):
        child.stdin.write(data)
        child.stdin.flush()
    child.stdin.close()
threading.Thread(target=pump_in, daemon=True).start()
while data := os.read(child.stdout.fileno(), 65536):
    os.write(1, data)
sys.exit(child.wait())
"""


@pytest.fixture
def node_tmp() -> Iterator[Path]:
    """The node's TMPDIR: short, as /tmp is on a real node. ansible-core 2.21 starts a
    multiprocessing manager whose socket lives there, and a Unix socket's path has at most 107
    bytes: under pytest's deep tmp_path its listener does not start ("Local RPC server did not
    start")."""
    path = Path(tempfile.mkdtemp(prefix="mspctl-node-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _node(tmp_path: Path, node_tmp: Path, hosts: tuple[str, ...] = ()) -> tuple[NodeTarget, Path]:
    """A 'node' on this machine: its venv is this one, its temporary files in ``node_tmp``."""
    base = tmp_path / "node"
    base.mkdir()
    (base / "venv").symlink_to(Path(sys.executable).parent.parent)
    (base / "collections").mkdir()
    ssh = ["env", f"TMPDIR={node_tmp}", sys.executable, "-c", RELAY]
    return NodeTarget("local-node", ssh, str(base), hosts=hosts), node_tmp


def _vault_project(tmp_path: Path) -> tuple[Path, Path, Path]:
    from ansible.parsing.vault import VaultLib, VaultSecret

    project = tmp_path / "project"
    (project / "playbooks").mkdir(parents=True)
    (project / "ansible.cfg").write_text("[defaults]\ninterpreter_python = auto_silent\n")
    (project / "playbooks" / "site.yml").write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Streamed play",
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Read the secret",
                            "ansible.builtin.set_fact": {"seen": "{{ secret | length }}"},
                        },
                        {
                            "name": "Wait a little",
                            "ansible.builtin.command": "sleep 3",
                            "changed_when": False,
                        },
                        {
                            "name": "Change something",
                            "ansible.builtin.command": "true",
                            "changed_when": True,
                        },
                    ],
                }
            ]
        )
    )
    inventory = tmp_path / "client"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "streamed-host": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                        }
                    }
                }
            }
        )
    )
    vault = VaultLib([("default", VaultSecret(PASSWORD.encode()))])
    cipher = vault.encrypt("the-secret-value").decode()
    (inventory / "group_vars" / "all.yml").write_text(
        "secret: !vault |\n" + "".join(f"  {line}\n" for line in cipher.splitlines())
    )
    password_file = tmp_path / "vault.pass"
    password_file.write_text(PASSWORD + "\n")
    return project, inventory / "hosts.yml", password_file


def _files_containing(directory: Path, needle: bytes) -> list[Path]:
    found = []
    for path in directory.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(path)
        except OSError:
            continue
    return found


def test_a_streamed_run_reports_like_a_local_one_and_leaves_no_secret(
    tmp_path: Path, node_tmp: Path
) -> None:
    project, hosts, password_file = _vault_project(tmp_path)
    node, node_tmp = _node(tmp_path, node_tmp, ("streamed-host",))
    spec = PlaybookSpec(
        playbook=project / "playbooks" / "site.yml",
        inventories=(hosts,),
        private_data_dir=tmp_path / "runs" / "r1",
        ident="r1-nodes",
        project_dir=project,
        vault_password_file=password_file,
        node=node,
    )
    seen_on_disk: list[Path] = []
    job_dirs: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            job_dirs.extend(p.name for p in node_tmp.iterdir())
            seen_on_disk.extend(_files_containing(node_tmp, PASSWORD.encode()))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = run_playbook(spec)
    finally:
        done.set()
        watcher.join()
    assert result.status == "successful", result
    assert result.node == "local-node"
    assert result.hosts["streamed-host"].changed == 1
    assert result.hosts["streamed-host"].failed == 0
    assert [t.task for t in result.tasks] == [
        "Read the secret",
        "Wait a little",
        "Change something",
    ]
    assert str(result.tasks[0].result["ansible_facts"]["seen"]) == "16"  # the vault was opened
    events = list((spec.private_data_dir / "artifacts" / spec.ident / "job_events").glob("*.json"))
    assert len(events) > 5
    assert any(d.startswith("mspctl-job-") for d in job_dirs)  # the worker really ran there
    assert seen_on_disk == []  # the vault password never reached the node's disk
    assert list(node_tmp.iterdir()) == []  # nothing of the job stays on the node
    assert not (spec.private_data_dir / "job").exists()
    assert _files_containing(spec.private_data_dir, PASSWORD.encode()) == []


def _slow_spec(tmp_path: Path, node: NodeTarget, ident: str) -> PlaybookSpec:
    return PlaybookSpec(
        playbook=SLOW / "playbooks" / "site.yml",
        inventories=(SLOW / "inventories" / "demo" / "hosts.yml",),
        private_data_dir=tmp_path / "runs" / ident,
        ident=ident,
        project_dir=SLOW,
        extravars={"mspctl_policies": {"assets": "all"}},
        node=node,
    )


def test_cancelling_a_streamed_run_ends_the_job_on_the_node(tmp_path: Path, node_tmp: Path) -> None:
    node, node_tmp = _node(tmp_path, node_tmp, ("slow-host",))
    spec = _slow_spec(tmp_path, node, "r2-nodes")
    started = threading.Event()

    def progress(event: object) -> None:
        if getattr(event, "status", None) == "ok":
            started.set()

    began = time.monotonic()
    result = run_playbook(spec, on_progress=progress, cancelled=started.is_set)
    assert result.status == "aborted"
    assert time.monotonic() - began < 40  # not the playbook's 60 seconds
    assert run_processes(spec.ident) == []  # worker, ansible-playbook, sleep: all gone
    assert list(node_tmp.iterdir()) == []


def test_a_node_lost_mid_run_fails_the_run_with_the_reason(tmp_path: Path, node_tmp: Path) -> None:
    node, node_tmp = _node(tmp_path, node_tmp, ("slow-host", "other-host"))
    spec = _slow_spec(tmp_path, node, "r3-nodes")

    def progress(event: object) -> None:
        if getattr(event, "status", None) == "ok":  # the node "drops": its session dies
            for pid in run_processes(spec.ident):
                if b"sshd-like relay" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)

    began = time.monotonic()
    result = run_playbook(spec, on_progress=progress)
    assert time.monotonic() - began < 40  # not the playbook's 60 seconds
    deadline = time.monotonic() + 15  # the node ends the orphaned job by itself
    while (run_processes(spec.ident) or list(node_tmp.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run_processes(spec.ident) == []
    assert list(node_tmp.iterdir()) == []
    assert result.status == "failed"
    assert result.reason is not None and "execution node local-node was lost" in result.reason
    assert result.hosts["other-host"].unreachable == 1
    assert result.hosts["slow-host"].unreachable == 1
    assert result.failed_hosts == ["other-host", "slow-host"]


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])


def test_a_real_sigint_stops_a_streamed_run(tmp_path: Path, node_tmp: Path) -> None:
    """ansible-runner's process step installs its own SIGINT handler unless given a
    cancel_callback: mspctl's (engine._interruptible) must stay the one that answers."""
    from mspctl.engine import _interruptible

    node, node_tmp = _node(tmp_path, node_tmp, ("slow-host",))
    spec = _slow_spec(tmp_path, node, "r4-nodes")
    sent: list[bool] = []

    def progress(event: object) -> None:
        if getattr(event, "status", None) == "ok" and not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)

    began = time.monotonic()
    with _interruptible() as interrupted:
        result = run_playbook(spec, on_progress=progress, cancelled=interrupted)
    assert sent and interrupted()
    assert result.status == "aborted"
    assert time.monotonic() - began < 40  # not the playbook's 60 seconds
    deadline = time.monotonic() + 15
    while (run_processes(spec.ident) or list(node_tmp.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run_processes(spec.ident) == []
    assert list(node_tmp.iterdir()) == []
