"""A client site behind its router, in the lab: a second network this machine cannot reach,
with an execution node on both networks (docs/nodes.md).

``add_site(state, ...)`` takes an up lab and adds:

- a site bridge with no address on this machine (so no route to it: a direct SSH from the
  controller fails) and the subnet ``10.232.<lab slot>.0/24``;
- a second interface (``eth1``, ``.1`` of the site) on lab host ``node_index``, the node; it
  routes and masquerades the site to the lab network (the site's Internet: the package mirror,
  the MSP's monitoring and backup host), as a client's router would;
- ``count`` site hosts (booted like every lab host, indices from 21) on the site bridge,
  their host keys in the node's ``/etc/ssh/ssh_known_hosts``;
- the MSP-side lab host 1 routes to the site through the node (monitoring scrapes it);
- a client ``<lab>-site`` (``inventories/<lab>-site/``) whose hosts are lab host 1 and the
  site hosts and whose only site names the node as its execution node.

Everything is named like the lab's own (namespaces, supervisors, host trees, the bridge's
alias), so ``mspctl lab down`` removes it; :func:`remove_client` removes the client folder.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mspctl.lab import hosts, inventory, network, rootfs
from mspctl.lab._system import LabError, run
from mspctl.lab.state import LabHost, LabState, bridge_alias, host_name, netns_name

SITE_PREFIX = "10.232"  # site of lab slot k: 10.232.<k>.0/24, the node is .1, host i .10+i
FIRST_SITE_INDEX = 21
NODE_PATH = "/opt/mspctl-node"
_PROBE = (
    "import socket, sys\n"
    "try:\n"
    "    s = socket.create_connection((sys.argv[1], 22), timeout=0.5)\n"
    "    sys.exit(0 if s.recv(4).startswith(b'SSH-') else 1)\n"
    "except OSError:\n"
    "    sys.exit(1)\n"
)


@dataclass
class SiteState:
    lab: str
    client: str
    subnet: str
    bridge: str
    node: str  # the lab host that is the execution node
    node_ip: str  # its address on the lab network (what the controller reaches)
    node_site_ip: str
    hosts: list[LabHost] = field(default_factory=list)
    client_dir: str | None = None

    def save(self, state: LabState) -> None:
        (state.run_dir / "site.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, state: LabState) -> SiteState | None:
        path = state.run_dir / "site.json"
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text())
        data["hosts"] = [LabHost(**h) for h in data["hosts"]]
        return cls(**data)


def site_ip(slot: int, index: int) -> str:
    return f"{SITE_PREFIX}.{slot}.{index}"


def add_site(
    state: LabState,
    *,
    node_index: int,
    count: int,
    inventories_dir: Path,
    vault_dir: Path,
    timeout: float = 120.0,
) -> SiteState:
    node = next(h for h in state.hosts if h.index == node_index)
    msp = next(h for h in state.hosts if h.index == 1)
    subnet = f"{SITE_PREFIX}.{state.slot}.0/24"
    site = SiteState(
        lab=state.name,
        client=f"{state.name}-site",
        subnet=subnet,
        bridge=f"mspl{state.slot}s",
        node=node.name,
        node_ip=node.ip,
        node_site_ip=site_ip(state.slot, 1),
    )
    site.hosts = [
        LabHost(
            name=host_name(state.name, i),
            index=i,
            ip=site_ip(state.slot, 10 + i - FIRST_SITE_INDEX + 1),
            netns=netns_name(state.name, i),
            veth=f"mspl{state.slot}s{i}",
            groups=["servers"] if i == FIRST_SITE_INDEX else ["workstations"],
        )
        for i in range(FIRST_SITE_INDEX, FIRST_SITE_INDEX + count)
    ]
    site.save(state)
    _site_network(state, site, node, msp)
    image = rootfs.ensure(state.distro)
    public_key = state.ssh_key.with_suffix(".pub").read_text().strip()
    known = [_known_line(state, msp)]
    for host in site.hosts:
        _host_network(site, host)
        known.append(hosts.prepare_root(state, host, image, public_key, network.resolvers()))
    root = state.host_dir(node) / "root"
    (root / "etc/ssh/ssh_known_hosts").write_text("\n".join(known) + "\n")
    for host in site.hosts:
        host.supervisor_pid = hosts.start(state, host)
    site.save(state)
    _wait_from_node(state, site, node, timeout)
    site.client_dir = str(write_client(state, site, inventories_dir, vault_dir))
    site.save(state)
    return site


def _known_line(state: LabState, host: LabHost) -> str:
    for line in state.known_hosts.read_text().splitlines():
        if line.split(",", 1)[0] == host.name:
            return line
    raise LabError(f"no known host key for {host.name}")


def _site_network(state: LabState, site: SiteState, node: LabHost, msp: LabHost) -> None:
    run(["ip", "link", "add", site.bridge, "type", "bridge"])
    run(["ip", "link", "set", site.bridge, "alias", bridge_alias(state.name)])  # lab down
    run(["ip", "link", "set", site.bridge, "up"])  # no address here: no route from here
    veth = f"mspl{state.slot}n"
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth1", "netns", node.netns])
    run(["ip", "link", "set", veth, "master", site.bridge, "up"])
    batch = f"addr add {site.node_site_ip}/24 dev eth1\nlink set eth1 up\n"
    run(["ip", "-n", node.netns, "-batch", "-"], input_text=batch)
    run(["ip", "netns", "exec", node.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
    rules = (
        "table ip mspctl_site {\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f'    oifname "eth0" ip saddr {site.subnet} masquerade\n'
        "  }\n"
        "}\n"
    )
    run(["ip", "netns", "exec", node.netns, "nft", "-f", "-"], input_text=rules)
    run(["ip", "-n", msp.netns, "route", "add", site.subnet, "via", node.ip])


def _host_network(site: SiteState, host: LabHost) -> None:
    network.attach_host(host, site.bridge, site.node_site_ip)


def _wait_from_node(state: LabState, site: SiteState, node: LabHost, timeout: float) -> None:
    """Wait until every site host answers SSH, seen from the node's network."""
    deadline = time.monotonic() + timeout
    for host in site.hosts:
        while True:
            probe = ["ip", "netns", "exec", node.netns, sys.executable, "-c", _PROBE, host.ip]
            if run(probe, check=False, timeout=10).returncode == 0:
                break
            if time.monotonic() > deadline:
                raise LabError(
                    f"site host {host.name} ({host.ip}) not up after {timeout:.0f} s: "
                    f"{hosts.log_tail(state, host)}"
                )
            time.sleep(0.5)


def write_client(state: LabState, site: SiteState, inventories_dir: Path, vault_dir: Path) -> Path:
    """The site's client: lab host 1 (MSP side) and the site hosts, run through the node."""
    import yaml

    msp = next(h for h in state.hosts if h.index == 1)
    directory = inventories_dir / site.client
    directory.mkdir(parents=True, exist_ok=True)

    def vars_of(host: LabHost) -> dict[str, Any]:
        return {
            "ansible_host": host.ip,
            "ansible_user": "root",
            "ansible_python_interpreter": "/usr/bin/python3",
        }

    members = [msp, *site.hosts]
    children: dict[str, dict[str, Any]] = {}
    for host in members:
        # the MSP-side host serves the site (monitoring, backups) and is not one of its servers
        groups = [g for g in host.groups if g != "servers"] if host is msp else host.groups
        for group in groups:
            children.setdefault(group, {"hosts": {}})["hosts"][host.name] = {}
    document = {
        "all": {
            "vars": {"mspctl_lab_name": site.client, "mspctl_lab_distro": state.distro},
            "hosts": {h.name: vars_of(h) for h in members},
            "children": children,
        }
    }
    header = f"{inventory.HEADER} (site of lab {state.name!r}, {site.subnet}, via {site.node})\n"
    (directory / "hosts.yml").write_text(header + yaml.safe_dump(document, sort_keys=False))
    node = {
        "name": f"{site.client}-node",
        "host": site.node_ip,
        "user": "root",
        "path": NODE_PATH,
        "capacity": 2,
        "identity_file": str(state.ssh_key),
        "hosts_identity_file": str(state.ssh_key),
    }
    client = inventory.client_document().replace(
        "sites:\n  - name: Lab\n    address: this machine\n",
        "sites:\n  - name: Branch office\n    address: a lab network this machine cannot reach\n"
        + "    node:\n"
        + "".join(f"      {k}: {json.dumps(v)}\n" for k, v in node.items()),
    )
    (directory / "client.yml").write_text(client)
    group_vars = directory / "group_vars" / "all"
    group_vars.mkdir(parents=True, exist_ok=True)
    for source in sorted(inventory.GROUP_VARS_DIR.glob("*.yml")):
        (group_vars / source.name).write_text(source.read_text())
    inventory.write_vault(directory, vault_dir / f"{site.client}.pass")
    return directory


def write_direct_client(state: LabState, index: int, inventories_dir: Path) -> Path:
    """A client ``<lab>-direct`` of lab host ``index`` alone, a workstation the controller
    reaches itself (no site node): it runs from here while the site's client runs through its
    node."""
    import yaml

    host = next(h for h in state.hosts if h.index == index)
    directory = inventories_dir / f"{state.name}-direct"
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "all": {
            "vars": {"mspctl_lab_name": directory.name, "mspctl_lab_distro": state.distro},
            "hosts": {host.name: inventory.host_vars(state, host.ip)},
            "children": {"workstations": {"hosts": {host.name: {}}}},
        }
    }
    header = f"{inventory.HEADER} (lab {state.name!r}, host {index}, run from the controller)\n"
    (directory / "hosts.yml").write_text(header + yaml.safe_dump(document, sort_keys=False))
    (directory / "client.yml").write_text(inventory.client_document())
    return directory


def remove_client(directory: Path) -> None:
    import shutil

    if (directory / "hosts.yml").exists():
        first = (directory / "hosts.yml").read_text().splitlines()[:1]
        if first and first[0].startswith(inventory.HEADER):
            shutil.rmtree(directory, ignore_errors=True)


__all__ = [
    "SiteState",
    "add_site",
    "remove_client",
    "site_ip",
    "write_client",
    "write_direct_client",
]
