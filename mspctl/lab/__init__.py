"""The lab: real Debian hosts on this machine, reachable over real SSH.

Each host is a ``systemd-nspawn`` container booting systemd, in its own network namespace on a
bridge, with its own IP, hostname, machine-id, SSH host key and overlay root over one cached
Debian image. Several labs can exist at once, each under its own name.

The API is small and typed::

    state = up("lab", 3, "bookworm", inventories_dir)   # SSH-ready hosts + a `lab` client
    status("lab")                                      # what runs, what answers SSH
    down("lab")                                        # remove all of it, leftovers included

All of it needs root except :func:`status`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mspctl.lab import devices as lab_devices
from mspctl.lab import hosts, inventory, kernel, network, rootfs
from mspctl.lab._system import (
    LabError,
    file_lock,
    mounts_under,
    pid_alive,
    remove_tree,
    require_root,
    require_tools,
)
from mspctl.lab.state import (
    DEFAULT_DISTRO,
    DEFAULT_NAME,
    DISTROS,
    MAX_HOSTS,
    LabHost,
    LabState,
    host_ip,
    host_name,
    netns_name,
    nft_table,
    recorded_labs,
    run_root,
    validate_name,
    var_root,
    veth_name,
)

__all__ = [
    "DEFAULT_DISTRO",
    "DEFAULT_NAME",
    "DISTROS",
    "MAX_HOSTS",
    "RUNTIME_TOOLS",
    "HostStatus",
    "LabError",
    "LabHost",
    "LabState",
    "LabStatus",
    "all_lab_names",
    "down",
    "down_all",
    "leftovers",
    "list_labs",
    "status",
    "up",
]

Progress = Callable[[str], None]
RUNTIME_TOOLS = ("ip", "nft", "systemd-nspawn", "mount", "umount", "ssh", "ssh-keygen")


def _quiet(_: str) -> None:
    return None


def _lab_lock(name: str) -> contextlib.AbstractContextManager[None]:
    return file_lock(run_root() / ".locks" / f"{name}.lock")


def _global_lock() -> contextlib.AbstractContextManager[None]:
    return file_lock(run_root() / ".locks" / "global.lock")


# -- up ---------------------------------------------------------------------------------------
def up(
    name: str,
    count: int,
    distro: str,
    inventories_dir: Path | None,
    *,
    progress: Progress | None = None,
    timeout: float = 90.0,
    devices: bool = False,
) -> LabState:
    """Bring up ``count`` SSH-ready hosts and write the lab client into ``inventories_dir``.

    Leftovers of an earlier run under the same name are cleaned first; a lab that is still
    running is an error. On failure everything made so far is removed again.
    """
    say = progress or _quiet
    validate_name(name)
    if not 1 <= count <= MAX_HOSTS:
        raise LabError(f"a lab has 1 to {MAX_HOSTS} hosts, not {count}")
    require_root("up")
    require_tools(*RUNTIME_TOOLS)
    with _lab_lock(name):
        existing = LabState.load(name)
        if existing and any(pid_alive(h.supervisor_pid) for h in existing.hosts):
            raise LabError(
                f"lab {name!r} is already up ({len(existing.hosts)} hosts): "
                f"run `mspctl lab down --name {name}` first"
            )
        if leftovers(name):
            say(f"removing leftovers of an earlier run of lab {name!r}")
            _teardown(name, existing)

        image = rootfs.ensure(distro, say)
        started = time.monotonic()  # the boot time, not the one-off image build
        with _global_lock():
            slot = network.allocate_slot(name)
            state = LabState(
                name=name,
                distro=distro,
                slot=slot,
                image=str(image.root),
                created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            )
            state.hosts = [
                LabHost(
                    name=host_name(name, i),
                    index=i,
                    ip=host_ip(slot, i),
                    netns=netns_name(name, i),
                    veth=veth_name(slot, i),
                    groups=inventory.groups_for(i),
                )
                for i in range(1, count + 1)
            ]
            state.save()  # from here on `down` knows what to remove
            try:
                network.create_bridge(state)
            except BaseException:
                _teardown(name, state)
                raise
        try:
            _bring_up(state, image, inventories_dir, timeout, say)
            if devices:  # a switch, a NAS and a printer beside the hosts (mspctl/lab/devices.py)
                lab_devices.add_to_inventory(state, lab_devices.start(state, say))
        except BaseException:
            with contextlib.suppress(Exception):
                _teardown(name, state)
            raise
        state.ready_seconds = round(time.monotonic() - started, 2)
        state.save()
        return state


def _bring_up(
    state: LabState,
    image: rootfs.Image,
    inventories_dir: Path | None,
    timeout: float,
    say: Progress,
) -> None:
    state.mirror_addresses = network.mirror_addresses(rootfs.MIRROR_HOSTS)
    dns = network.resolvers()
    kernel.apply()  # forwarding, inotify limits for many systemd hosts
    network.apply_firewall(state, dns)
    public_key = hosts.generate_lab_key(state)
    known: list[str] = []
    for host in state.hosts:
        network.create_host_network(state, host)
        known.append(hosts.prepare_root(state, host, image, public_key, dns))
    state.known_hosts.write_text("\n".join(known) + "\n")
    for host in state.hosts:
        host.supervisor_pid = hosts.start(state, host)
    state.save()
    say(f"booting {len(state.hosts)} {state.distro} hosts on {state.subnet}")
    for name, units in hosts.wait_ready(state, timeout).items():
        say(f"{name}: {', '.join(units)} failed while booting; started again: ok")
    if inventories_dir is not None:
        state.inventory_dir = str(inventories_dir / state.name)
        state.save()  # recorded first, so `down` removes even a half-written inventory
        inventory.write(state, inventories_dir)


# -- down -------------------------------------------------------------------------------------
def leftovers(name: str) -> list[str]:
    """What exists of lab ``name`` (running or left over): empty when nothing does."""
    found: list[str] = []
    if (run_root() / name).exists():
        found.append(f"runtime dir {run_root() / name}")
    if (var_root() / name).exists():
        found.append(f"host trees {var_root() / name}")
    found += [f"mount {m}" for m in mounts_under(var_root() / name)]
    supervisors, nspawns = hosts.lab_processes(name)
    found += [f"supervisor pid {pid}" for pid in supervisors]
    found += [f"systemd-nspawn pid {pid}" for pid in nspawns]
    found += [f"network namespace {ns}" for ns in network.lab_netns(name)]
    found += [f"bridge {br}" for br, lab in network.lab_bridges().items() if lab == name]
    if nft_table(name) in network.nft_tables():
        found.append(f"nft table inet {nft_table(name)}")
    return found


def down(name: str, *, progress: Progress | None = None) -> bool:
    """Remove lab ``name`` and whatever a killed run of it left; True if there was anything."""
    validate_name(name)
    require_root("down")
    with _lab_lock(name):
        state = LabState.load(name)
        if not leftovers(name) and state is None:
            return False
        _teardown(name, state, progress or _quiet)
    with _global_lock():
        kernel.restore_if_idle()
    return True


def down_all(*, progress: Progress | None = None) -> list[str]:
    """Take every lab down (and every leftover of one); returns their names."""
    require_root("down")
    names = all_lab_names()
    for name in names:
        down(name, progress=progress)
    with _global_lock():
        kernel.restore_if_idle()
    return names


def all_lab_names() -> list[str]:
    """Every lab on this machine, up or left over (found by its files, network, processes)."""
    return sorted(
        set(recorded_labs())
        | network.lab_names_in_network()
        | hosts.lab_names_in_processes()
        | _names_in(var_root())
    )


def _names_in(directory: Path) -> set[str]:
    if not directory.is_dir():
        return set()
    return {p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")}


def _teardown(name: str, state: LabState | None, say: Progress = _quiet) -> None:
    """Remove everything of lab ``name``, in an order that works for any partial state."""
    lab_devices.stop(state, name)  # the simulated devices, if `up --devices` started them
    netns_paths = [Path("/run/netns") / ns for ns in network.lab_netns(name)]
    hosts.stop_all(name, netns_paths)
    added = hosts.harvest_packages(var_root() / name, state.distro if state else None)
    if added:
        say(f"kept {added} downloaded packages in the shared apt pool")
    hosts.remove_host_trees(var_root() / name)
    network.teardown(name, state.slot if state else None)
    if state and state.inventory_dir:
        inventory.remove(Path(state.inventory_dir))
    if (run_root() / name).exists():
        remove_tree(run_root() / name)


# -- status -----------------------------------------------------------------------------------
@dataclass
class HostStatus:
    name: str
    ip: str
    groups: list[str]
    running: bool
    ssh: bool


@dataclass
class LabStatus:
    name: str
    state: LabState | None
    hosts: list[HostStatus] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return bool(self.hosts) and all(h.running and h.ssh for h in self.hosts)

    @property
    def summary(self) -> str:
        if self.state is None:
            return "absent"
        if self.up:
            return "up"
        if any(h.running for h in self.hosts):
            return "degraded"
        return "stopped (leftovers: run `mspctl lab down`)"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "status": self.summary, "up": self.up}
        if self.state is not None:
            data.update(self.state.to_dict())
            data["hosts"] = [
                {**h.__dict__, "supervisor_pid": s.supervisor_pid, "netns": s.netns}
                for h, s in zip(self.hosts, self.state.hosts, strict=True)
            ]
        return data


def status(name: str) -> LabStatus:
    """What lab ``name`` is doing: per host, whether it runs and answers SSH."""
    validate_name(name)
    state = LabState.load(name)
    if state is None:
        return LabStatus(name=name, state=None)
    rows = [
        HostStatus(
            name=h.name,
            ip=h.ip,
            groups=list(h.groups),
            running=pid_alive(h.supervisor_pid),
            ssh=hosts.ssh_banner(h.ip, timeout=0.3) if pid_alive(h.supervisor_pid) else False,
        )
        for h in state.hosts
    ]
    return LabStatus(name=name, state=state, hosts=rows)


def list_labs() -> list[LabStatus]:
    return [status(name) for name in recorded_labs()]
