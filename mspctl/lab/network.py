"""Lab networking: a bridge and a /24 per lab, a network namespace and a veth per host, and an
nftables table that masquerades the lab subnet and lets it reach only the package mirror.

Lab hosts talk to each other and to the Debian mirror (plus the machine's DNS resolver), and to
nothing else: forwarded traffic from the lab bridge to any other address is dropped, and so is
traffic from the lab to this machine that it did not ask for (SSH replies are let through).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
from pathlib import Path
from typing import Any

from mspctl.lab._system import LabError, run
from mspctl.lab.state import (
    FIRST_SLOT,
    LAST_SLOT,
    NETNS_ANY_RE,
    LabHost,
    LabState,
    bridge_alias,
    bridge_name,
    gateway,
    lab_from_nft_table,
    netns_re,
    nft_table,
    recorded_labs,
    run_root,
    slot_order,
    subnet,
)


def _ip_json(*args: str) -> list[dict[str, Any]]:
    out = run(["ip", "-j", *args], check=False).stdout.strip()
    if not out:
        return []
    with contextlib.suppress(ValueError):
        data = json.loads(out)
        if isinstance(data, list):
            return [d for d in data if isinstance(d, dict)]
    return []


# -- addressing -----------------------------------------------------------------------------
def used_slots(exclude: str) -> set[int]:
    """Subnet slots taken by other labs, by bridges, or by any route of this machine."""
    used: set[int] = set()
    for other in recorded_labs():
        if other == exclude:
            continue
        with contextlib.suppress(OSError, ValueError, KeyError):
            used.add(int(json.loads((run_root() / other / "state.json").read_text())["slot"]))
    for link in _ip_json("link", "show", "type", "bridge"):
        ifname = str(link.get("ifname", ""))
        if ifname.startswith("mspl") and ifname[4:].isdigit():
            used.add(int(ifname[4:]))
    routes = [r.get("dst", "") for r in _ip_json("-4", "route", "show", "table", "all")]
    addrs = [
        f"{a['local']}/{a['prefixlen']}"
        for link in _ip_json("-4", "addr", "show")
        for a in link.get("addr_info", [])
        if "local" in a and "prefixlen" in a
    ]
    for text in [*routes, *addrs]:
        if not text or text == "default":
            continue
        with contextlib.suppress(ValueError):
            net = ipaddress.IPv4Network(text, strict=False)
            if net.prefixlen == 0:
                continue
            for slot in range(FIRST_SLOT, LAST_SLOT + 1):
                if net.overlaps(subnet(slot)):
                    used.add(slot)
    return used


def allocate_slot(name: str) -> int:
    used = used_slots(exclude=name)
    for slot in slot_order(name):
        if slot not in used:
            return slot
    raise LabError("no free lab subnet left in 10.231.0.0/16: take some labs down")


def mirror_addresses(hostnames: tuple[str, ...]) -> dict[str, str]:
    """IPv4 address of each mirror host, resolved here and pinned in the guests' /etc/hosts."""
    found: dict[str, str] = {}
    for hostname in hostnames:
        try:
            infos = socket.getaddrinfo(hostname, 80, socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:
            raise LabError(f"cannot resolve the package mirror {hostname}: {exc}") from exc
        found[hostname] = str(infos[0][4][0])
    return found


def resolvers() -> list[str]:
    """The machine's IPv4 name servers that a guest can reach through the masquerade."""
    servers: list[str] = []
    with contextlib.suppress(OSError):
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                with contextlib.suppress(ValueError):
                    addr = ipaddress.IPv4Address(parts[1])
                    if not addr.is_loopback:
                        servers.append(str(addr))
    return servers


# -- creation -------------------------------------------------------------------------------
def create_bridge(state: LabState) -> None:
    br = bridge_name(state.slot)
    run(["ip", "link", "add", br, "type", "bridge"])
    run(["ip", "link", "set", br, "alias", bridge_alias(state.name)])
    run(["ip", "addr", "add", f"{gateway(state.slot)}/24", "dev", br])
    ipv6 = Path(f"/proc/sys/net/ipv6/conf/{br}/disable_ipv6")
    if ipv6.exists():
        ipv6.write_text("1\n")
    run(["ip", "link", "set", br, "up"])


def create_host_network(state: LabState, host: LabHost) -> None:
    attach_host(host, state.bridge, state.gateway)


def attach_host(host: LabHost, bridge: str, gateway: str) -> None:
    """The host's network namespace, its veth on ``bridge`` and its default route via
    ``gateway`` (the lab's bridge, or a site's network behind its node)."""
    run(["ip", "netns", "add", host.netns])
    run(
        [
            "ip",
            "link",
            "add",
            host.veth,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            host.netns,
        ]
    )
    run(["ip", "link", "set", host.veth, "master", bridge, "up"])
    batch = "\n".join(
        [
            "link set lo up",
            f"addr add {host.ip}/24 dev eth0",
            "link set eth0 up",
            f"route add default via {gateway}",
        ]
    )
    run(["ip", "-n", host.netns, "-batch", "-"], input_text=batch + "\n")


def firewall_rules(state: LabState, dns: list[str]) -> str:
    """The lab's nftables table: masquerade out, mirror and DNS only, nothing unasked in."""
    br = state.bridge
    mirrors = sorted(set(state.mirror_addresses.values()))
    lines = [
        f"table inet {nft_table(state.name)} {{",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        f'    iifname "{br}" oifname "{br}" accept',
    ]
    if mirrors:
        lines.append(
            f'    iifname "{br}" ip daddr {{ {", ".join(mirrors)} }} tcp dport {{ 80, 443 }} accept'
        )
    if dns:
        lines.append(
            f'    iifname "{br}" ip daddr {{ {", ".join(dns)} }} '
            "meta l4proto { tcp, udp } th dport 53 accept"
        )
    lines += [
        f'    iifname "{br}" counter drop',
        f'    oifname "{br}" ct state established,related accept',
        f'    oifname "{br}" counter drop',
        "  }",
        "  chain input {",
        "    type filter hook input priority filter; policy accept;",
        f'    iifname "{br}" ct state established,related accept',
        f'    iifname "{br}" counter drop',
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        f"    ip saddr {state.subnet} ip daddr != {state.subnet} masquerade",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def apply_firewall(state: LabState, dns: list[str]) -> None:
    run(["nft", "-f", "-"], input_text=firewall_rules(state, dns))


# -- discovery and removal ------------------------------------------------------------------
def netns_names() -> list[str]:
    names = [str(entry.get("name", "")) for entry in _ip_json("netns", "list")]
    if not names:
        with contextlib.suppress(OSError):
            names = [p.name for p in Path("/run/netns").iterdir()]
    return sorted(n for n in names if n)


def lab_netns(name: str) -> list[str]:
    pattern = netns_re(name)
    return [ns for ns in netns_names() if pattern.match(ns)]


def lab_bridges() -> dict[str, str]:
    """Bridge name -> lab name, for every bridge a lab made (found by its alias)."""
    found: dict[str, str] = {}
    for link in _ip_json("link", "show", "type", "bridge"):
        alias = str(link.get("ifalias", ""))
        if alias.startswith("mspctl-lab:"):
            found[str(link["ifname"])] = alias.removeprefix("mspctl-lab:")
    return found


def nft_tables() -> list[str]:
    out = run(["nft", "list", "tables", "inet"], check=False).stdout
    return [line.split()[-1] for line in out.splitlines() if line.startswith("table inet ")]


def lab_names_in_network() -> set[str]:
    """Names of labs that still own a namespace, a bridge or a firewall table."""
    names = {m.group(1) for ns in netns_names() if (m := NETNS_ANY_RE.match(ns))}
    names |= set(lab_bridges().values())
    names |= {lab for table in nft_tables() if (lab := lab_from_nft_table(table))}
    return names


def remove_host_network(netns: str) -> None:
    run(["ip", "netns", "del", netns], check=False)
    leftover = Path("/run/netns") / netns
    if leftover.exists():
        run(["umount", "--lazy", str(leftover)], check=False)
        leftover.unlink(missing_ok=True)


def teardown(name: str, slot: int | None) -> None:
    """Remove every namespace, bridge, veth and nft table of lab ``name``."""
    for netns in lab_netns(name):
        remove_host_network(netns)
    bridges = {br for br, lab in lab_bridges().items() if lab == name}
    if slot is not None:
        prefix = f"mspl{slot}v"
        for link in _ip_json("link", "show", "type", "veth"):
            ifname = str(link.get("ifname", ""))
            if ifname.startswith(prefix) and ifname[len(prefix) :].isdigit():
                run(["ip", "link", "del", ifname], check=False)
        owner = lab_bridges().get(bridge_name(slot), name)
        if owner == name and Path(f"/sys/class/net/{bridge_name(slot)}").exists():
            bridges.add(bridge_name(slot))
    for br in sorted(bridges):
        run(["ip", "link", "del", br], check=False)
    table = nft_table(name)
    if table in nft_tables():
        run(["nft", "delete", "table", "inet", table], check=False)
