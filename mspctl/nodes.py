"""Execution nodes: a Linux box on a client site's LAN that runs the site's jobs.

A site in ``client.yml`` names its node (``sites[].node``: name, host, user, port, capacity,
path). Runs of that client are streamed to it over SSH with ansible-runner's own streaming
(:mod:`mspctl.runner`, ``transmit | ssh node worker | process``); this module prepares and
checks the node and builds the SSH command every run uses:

- the node's host key is pinned on the first ``prepare`` (``$MSPCTL_HOME/nodes/known_hosts``)
  and checked strictly by every later connection;
- ``prepare`` installs ``<path>/venv`` with the controller's exact ansible-core and
  ansible-runner and ``<path>/collections`` with the project's collection, all copied from
  the controller (wheels downloaded here with ``pip download``, the collection built here with
  ``ansible-galaxy collection build``): the node needs no internet, only ``python3`` with
  ``venv`` (Debian's ``python3`` has it; ``ensurepip`` is not needed: pip runs from its wheel);
- ``check`` reads the versions the node really has and refuses a mismatch.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mspctl.errors import BadInput, MspctlError

if TYPE_CHECKING:
    from mspctl.clients import Client, ExecutionNode
    from mspctl.config import Config
    from mspctl.runner import NodeTarget
    from mspctl.workspace import Workspace

Progress = Callable[[str], None]
SSH_TIMEOUT = 10  # seconds to connect
KEEPALIVE = ("-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3")  # lost: ~15 s
# what the node runs on; pip itself is copied as a wheel (Debian's python3 has no ensurepip)
NODE_PACKAGES = ("ansible-core", "ansible-runner")
COLLECTION = ("mspctl", "policy")

# Run by the node's venv Python (and by the controller's, for the comparison): the versions it
# has and a digest of the collection's plugins, as JSON on one line. Standard library only.
VERSIONS_SCRIPT = r"""
import hashlib, json, os, sys
from importlib import metadata
def version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
root = sys.argv[1]
plugins = os.path.join(root, "plugins")
digest = hashlib.sha256()
for dirpath, dirs, files in os.walk(plugins):
    dirs[:] = sorted(d for d in dirs if d != "__pycache__")
    for name in sorted(files):
        if name.endswith(".pyc"):
            continue
        path = os.path.join(dirpath, name)
        digest.update(os.path.relpath(path, plugins).encode() + b"\0")
        with open(path, "rb") as handle:
            digest.update(handle.read())
def manifest_version(path):
    try:
        with open(os.path.join(path, "MANIFEST.json")) as handle:
            return json.load(handle)["collection_info"]["version"]
    except (OSError, ValueError, KeyError):
        return None
collection = manifest_version(root)
top = os.path.dirname(os.path.dirname(root))
others = {}
for namespace in sorted(os.listdir(top)) if os.path.basename(top) == "ansible_collections" else []:
    if not os.path.isdir(os.path.join(top, namespace)):
        continue
    for name in sorted(os.listdir(os.path.join(top, namespace))):
        if (namespace, name) != ("mspctl", "policy"):
            others[namespace + "." + name] = manifest_version(os.path.join(top, namespace, name))
print(json.dumps({
    "python": "%d.%d" % sys.version_info[:2],
    "ansible-core": version("ansible-core"),
    "ansible-runner": version("ansible-runner"),
    "collection": collection,
    "plugins": digest.hexdigest() if os.path.isdir(plugins) else None,
    "collections": others,
}))
"""


class NodeError(MspctlError):
    """A node cannot be reached, prepared or used (exit 1)."""


@dataclass(frozen=True)
class NodeEntry:
    client: str
    site: str
    node: ExecutionNode

    def as_dict(self) -> dict[str, Any]:
        return {"client": self.client, "site": self.site, **self.node.model_dump(mode="json")}


@dataclass
class NodeCheck:
    entry: NodeEntry
    reachable: bool
    problems: list[str] = field(default_factory=list)
    versions: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reachable and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.entry.as_dict(),
            "reachable": self.reachable,
            "ok": self.ok,
            "problems": self.problems,
            "versions": self.versions,
            "expected": self.expected,
        }


# -- finding nodes --------------------------------------------------------------------------
def entries(workspace: Workspace) -> list[NodeEntry]:
    """Every execution node named in a client's sites (each client validated)."""
    found = []
    for slug in workspace.clients.names():
        client = workspace.clients.get(slug)
        found += [NodeEntry(slug, s.name, s.node) for s in client.data.sites if s.node]
    return found


def find(workspace: Workspace, name: str) -> NodeEntry:
    known = entries(workspace)
    for entry in known:
        if entry.node.name == name:
            return entry
    names = ", ".join(sorted({e.node.name for e in known})) or "none"
    raise BadInput(f"unknown execution node {name!r} (known: {names})")


# -- ssh ------------------------------------------------------------------------------------
def known_hosts(config: Config) -> Path:
    return config.home / "nodes" / "known_hosts"


def _host_alias(node: ExecutionNode) -> str:
    return node.host if node.port == 22 else f"[{node.host}]:{node.port}"


def ssh_command(
    config: Config, node: ExecutionNode, *, connect_timeout: int = SSH_TIMEOUT
) -> list[str]:
    """ssh to the node, up to the destination: batch mode, the pinned host key only."""
    command = [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts(config)}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"ConnectTimeout={connect_timeout}",
        *KEEPALIVE,
        "-p",
        str(node.port),
    ]
    if node.identity_file:
        command += ["-o", "IdentitiesOnly=yes", "-i", node.identity_file]
    return [*command, f"{node.user}@{node.host}"]


def _ssh(
    config: Config,
    node: ExecutionNode,
    remote: Sequence[str],
    *,
    input_bytes: bytes | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            [*ssh_command(config, node), shlex.join(remote)],
            input=input_bytes,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise NodeError(f"node {node.name} ({node.host}): no answer in {timeout:.0f} s") from None


def _said(proc: subprocess.CompletedProcess[bytes]) -> str:
    lines = [ln.strip() for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit status {proc.returncode}"


def pin_host_key(config: Config, node: ExecutionNode, say: Progress) -> None:
    """Pin the node's host key the first time (trust on first use, said with its fingerprint);
    a pinned key is never replaced here: a changed key fails every connection."""
    from mspctl.config import private_dir

    path = known_hosts(config)
    private_dir(path.parent)
    alias = _host_alias(node)
    if path.exists():
        found = subprocess.run(
            ["ssh-keygen", "-F", alias, "-f", str(path)], capture_output=True, check=False
        )
        if found.returncode == 0:
            return
    scan = subprocess.run(
        ["ssh-keyscan", "-T", str(SSH_TIMEOUT), "-t", "ed25519", "-p", str(node.port), node.host],
        capture_output=True,
        text=True,
        timeout=SSH_TIMEOUT + 10,
        check=False,
    )
    lines = [ln for ln in scan.stdout.splitlines() if ln and not ln.startswith("#")]
    if not lines:
        raise NodeError(f"node {node.name}: no SSH host key from {node.host}:{node.port}")
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    path.chmod(0o600)
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-F", alias, "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    shown = next((ln for ln in fingerprint if not ln.startswith("#")), "").split(" ", 1)[-1]
    say(f"pinned the SSH host key of {node.name}: {shown} (in {path})")


# -- versions -------------------------------------------------------------------------------
def controller_versions(project_dir: Path) -> dict[str, Any]:
    """What a node must have: this Python's minor version, ansible-core, ansible-runner, the
    collection's version (galaxy.yml) and plugins."""
    import yaml

    proc = subprocess.run(
        [sys.executable, "-c", VERSIONS_SCRIPT, str(project_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    versions: dict[str, Any] = json.loads(proc.stdout)
    galaxy = yaml.safe_load((project_dir / "galaxy.yml").read_text(encoding="utf-8"))
    versions["collection"] = str(galaxy["version"])
    versions["collections"] = {
        fqcn: _manifest_version(path) for fqcn, path in dependencies(project_dir).items()
    }
    return versions


_FQCN = re.compile(r"\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*")


def _installed_collections() -> dict[str, Path]:
    """Collections installed beside this ansible-core (the ``ansible`` package's)."""
    import importlib

    try:
        package = importlib.import_module("ansible_collections")
    except ImportError:
        return {}
    found: dict[str, Path] = {}
    for top in map(Path, package.__path__):
        for manifest in sorted(top.glob("*/*/MANIFEST.json")):
            found.setdefault(
                f"{manifest.parent.parent.name}.{manifest.parent.name}", manifest.parent
            )
    return found


def _manifest_version(path: Path) -> str | None:
    try:
        data = json.loads((path / "MANIFEST.json").read_text(encoding="utf-8"))
        return str(data["collection_info"]["version"])
    except (OSError, ValueError, KeyError):
        return None


def dependencies(project_dir: Path) -> dict[str, Path]:
    """The installed collections the project's roles, playbooks and plugins name by FQCN, with
    their own dependencies: what a node needs beside ansible-core and the project's collection."""
    installed = _installed_collections()
    wanted: set[str] = set()
    for folder in ("roles", "playbooks", "plugins"):
        for path in sorted((project_dir / folder).rglob("*")):
            if path.suffix in (".yml", ".yaml", ".py", ".j2") and path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                wanted |= {f"{m[1]}.{m[2]}" for m in _FQCN.finditer(text)} & set(installed)
    queue = sorted(wanted)
    while queue:
        try:
            data = json.loads((installed[queue.pop()] / "MANIFEST.json").read_text())
            needs = data["collection_info"].get("dependencies") or {}
        except (OSError, ValueError, KeyError):
            continue
        for fqcn in needs:
            if fqcn in installed and fqcn not in wanted:
                wanted.add(fqcn)
                queue.append(fqcn)
    return {fqcn: installed[fqcn] for fqcn in sorted(wanted)}


def collection_dir(node: ExecutionNode) -> str:
    base = node.path.rstrip("/")
    return f"{base}/collections/ansible_collections/{COLLECTION[0]}/{COLLECTION[1]}"


def node_versions(config: Config, node: ExecutionNode) -> dict[str, Any]:
    """The versions the node's venv really has (empty when there is no venv)."""
    from mspctl.runner import node_venv

    python = f"{node_venv(node.path)}/bin/python"
    remote = ["sh", "-c", 'test -x "$1" || exit 97; exec "$@"', "sh", python, "-c"]
    proc = _ssh(config, node, [*remote, VERSIONS_SCRIPT, collection_dir(node)], timeout=60)
    if proc.returncode == 97:
        return {}
    if proc.returncode != 0:
        raise NodeError(f"node {node.name} ({node.host}) is not reachable: {_said(proc)}")
    try:
        data: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise NodeError(f"node {node.name}: unreadable answer {proc.stdout[:200]!r}") from None
    return data


def mismatches(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    if not found:
        return ["no venv (run `mspctl nodes prepare`)"]
    problems = []
    names = {"python": "Python", "plugins": "collection plugins digest"}
    for key, want in expected.items():
        have = found.get(key)
        if key == "collections":
            theirs = have if isinstance(have, dict) else {}
            problems += [
                f"collection {fqcn} {theirs.get(fqcn) or 'none'} on the node, {version} here"
                for fqcn, version in want.items()
                if theirs.get(fqcn) != version
            ]
            continue
        if have != want:
            shown = (str(have)[:12] if have else "none") if key == "plugins" else have or "none"
            wanted = str(want)[:12] if key == "plugins" else want
            problems.append(f"{names.get(key, key)} {shown} on the node, {wanted} here")
    return problems


def check(config: Config, entry: NodeEntry) -> NodeCheck:
    expected = controller_versions(config.project_dir)
    try:
        found = node_versions(config, entry.node)
    except NodeError as exc:
        return NodeCheck(entry, False, [str(exc)], {}, expected)
    return NodeCheck(entry, True, mismatches(expected, found), found, expected)


def require_ready(config: Config, node: ExecutionNode) -> None:
    """Refuse a run on a node whose versions differ from the controller's."""
    problems = mismatches(controller_versions(config.project_dir), node_versions(config, node))
    if problems:
        raise NodeError(
            f"execution node {node.name} does not match this controller: {'; '.join(problems)}"
            f" (run `mspctl nodes prepare {node.name}`)"
        )


# -- prepare --------------------------------------------------------------------------------
def node_python(config: Config, node: ExecutionNode) -> str:
    """The node's ``python3`` version (``3.11``), refused when the controller's ansible-core
    does not run on it: the node runs ansible-playbook, so it is a controller too (ansible-core
    2.20 and later need Python 3.12: a Debian 12 node serves a Python 3.11 / ansible-core 2.19
    controller, a Debian 13 node either)."""
    from packaging.specifiers import SpecifierSet

    proc = _ssh(
        config, node, ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
    )
    found = proc.stdout.decode(errors="replace").strip()
    if proc.returncode != 0 or not found:
        raise NodeError(f"node {node.name} ({node.host}): no python3 ({_said(proc)})")
    needs = metadata.metadata("ansible-core")["Requires-Python"] or ""
    if needs and found not in SpecifierSet(needs):
        raise NodeError(
            f"node {node.name} ({node.host}) has Python {found}; this controller's ansible-core "
            f"{metadata.version('ansible-core')} needs Python {needs}: give the node a newer "
            "Python (Debian 13), or run mspctl on Python 3.11 with ansible-core 2.19"
        )
    return found


def _wheels(config: Config, say: Progress, python: str) -> Path:
    """The controller's exact ansible-core and ansible-runner (and pip) as wheels for the node's
    Python ``python``, downloaded once per version set into
    ``$MSPCTL_HOME/nodes/wheels/<versions>/``."""
    pins = [f"{name}=={metadata.version(name)}" for name in (*NODE_PACKAGES, "pip")]
    key = "-".join(p.replace("==", "-") for p in pins) + f"-py{python.replace('.', '')}"
    target = config.home / "nodes" / "wheels" / key
    if (target / ".complete").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    say(f"downloading wheels here for {', '.join(pins)}")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--python-version",
            python,
            "-d",
            str(target),
            *pins,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise NodeError(f"pip download failed: {lines[-1] if lines else proc.returncode}")
    (target / ".complete").touch()
    return target


def _collection_tarball(project_dir: Path, out: Path) -> Path:
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-galaxy"),
            "collection",
            "build",
            str(project_dir),
            "--output-path",
            str(out),
            "--force",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=project_dir,
    )
    built = sorted(out.glob(f"{COLLECTION[0]}-{COLLECTION[1]}-*.tar.gz"))
    if proc.returncode != 0 or not built:
        raise NodeError(f"building the collection failed: {proc.stderr.strip()[-300:]}")
    return built[-1]


def _no_cache(info: Any) -> Any:
    return None if "__pycache__" in info.name or info.name.endswith(".pyc") else info


def prepare(config: Config, entry: NodeEntry, say: Progress) -> NodeCheck:
    """Pin the host key, copy wheels and the collection over SSH (a tar stream), install the
    venv and the collection on the node, remove the copies, check the result."""
    import io
    import tarfile
    import tempfile

    from mspctl.runner import node_venv

    node = entry.node
    pin_host_key(config, node, say)
    wheels = _wheels(config, say, node_python(config, node))
    base = node.path.rstrip("/")
    with tempfile.TemporaryDirectory(prefix="mspctl-node-") as tmp:
        tarball = _collection_tarball(config.project_dir, Path(tmp))
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for wheel in sorted(wheels.glob("*.whl")):
                archive.add(wheel, arcname=f"wheels/{wheel.name}")
            archive.add(tarball, arcname=f"collection/{tarball.name}")
            for fqcn, path in dependencies(config.project_dir).items():
                archive.add(path, arcname=f"deps/{fqcn.replace('.', '/')}", filter=_no_cache)
    pip = next(iter(sorted(wheels.glob("pip-*.whl"))), None)
    if pip is None:
        raise NodeError(f"no pip wheel in {wheels}")
    pins = [f"{name}=={metadata.version(name)}" for name in NODE_PACKAGES]
    venv = node_venv(base)
    incoming = f"{base}/incoming"
    script = "\n".join(
        [
            "set -eu",
            f"rm -rf {shlex.quote(incoming)} && mkdir -p {shlex.quote(incoming)}",
            f"tar -x -C {shlex.quote(incoming)}",
            f"test -x {shlex.quote(venv)}/bin/python || python3 -m venv --without-pip "
            f"{shlex.quote(venv)}",
            f"{shlex.quote(venv)}/bin/python {shlex.quote(incoming)}/wheels/{pip.name}/pip install"
            f" --quiet --no-index --disable-pip-version-check --find-links "
            f"{shlex.quote(incoming)}/wheels {shlex.join(pins)}",
            f"mkdir -p {shlex.quote(base)}/collections {shlex.quote(base)}/facts",
            f"{shlex.quote(venv)}/bin/ansible-galaxy collection install --offline --force -p "
            f"{shlex.quote(base)}/collections {shlex.quote(incoming)}/collection/{tarball.name}"
            " >/dev/null",
            f"mkdir -p {shlex.quote(base)}/collections/ansible_collections",
            f"if test -d {shlex.quote(incoming)}/deps; then for d in {shlex.quote(incoming)}"
            f"/deps/*/*; do t={shlex.quote(base)}/collections/ansible_collections/"
            '$(basename $(dirname "$d"))/$(basename "$d"); rm -rf "$t"; '
            'mkdir -p "$(dirname "$t")"; mv "$d" "$t"; done; fi',
            f"rm -rf {shlex.quote(incoming)}",
        ]
    )
    say(f"installing {', '.join(pins)} and collection {tarball.name} on {node.name}:{base}")
    proc = _ssh(config, node, ["sh", "-c", script], input_bytes=buffer.getvalue(), timeout=600)
    if proc.returncode != 0:
        raise NodeError(f"preparing node {node.name} failed: {_said(proc)}")
    return check(config, entry)


# -- runs -----------------------------------------------------------------------------------
def target(config: Config, client: Client, hosts: Sequence[str]) -> NodeTarget | None:
    """The node a run of ``client`` is streamed to, or None: the controller runs it."""
    from mspctl.runner import NodeTarget

    node = client.data.node
    if node is None:
        return None
    key = None
    if node.hosts_identity_file:
        path = Path(node.hosts_identity_file).expanduser()
        try:
            key = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInput(
                f"cannot read {path}: {exc.strerror}",
                file=f"{client.display_dir}/client.yml",
                key="sites.node.hosts_identity_file",
            ) from None
    return NodeTarget(node.name, ssh_command(config, node), node.path, tuple(hosts), key)


__all__ = [
    "NodeCheck",
    "NodeEntry",
    "NodeError",
    "check",
    "entries",
    "find",
    "known_hosts",
    "prepare",
    "require_ready",
    "ssh_command",
    "target",
]
