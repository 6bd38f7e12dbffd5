"""``mspctl lab``: real local Debian hosts (systemd-nspawn) for tests and tier rehearsals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mspctl.cli.options import json_option
from mspctl.lab.state import DEFAULT_DISTRO, DEFAULT_NAME, DISTROS, MAX_HOSTS

if TYPE_CHECKING:
    from mspctl.app import Application
    from mspctl.lab import LabState, LabStatus

name_option = click.option(
    "--name",
    envvar="MSPCTL_LAB_NAME",
    show_envvar=True,
    default=DEFAULT_NAME,
    show_default=True,
    help="Lab name: several labs can run at once, each with its own hosts and subnet.",
)
distro_option = click.option(
    "--distro",
    envvar="MSPCTL_LAB_DISTRO",
    show_envvar=True,
    type=click.Choice(DISTROS),
    default=DEFAULT_DISTRO,
    show_default=True,
    help="Debian release the hosts run.",
)


@click.group()
def lab() -> None:
    """Real Debian hosts on this machine (systemd-nspawn, one network namespace each), reachable
    over real SSH, for role tests and for rehearsing a tier change. Needs root."""


@lab.command()
@click.argument("count", type=click.IntRange(1, MAX_HOSTS), default=3, metavar="[N]")
@distro_option
@name_option
@click.option(
    "--inventories-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the lab client <name>/{hosts,client}.yml [default: the project's "
    "inventories/].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    default=90.0,
    show_default=True,
    help="Seconds to wait for every host to accept SSH.",
)
@click.option(
    "--devices",
    is_flag=True,
    help="Also start a simulated switch (fake-switches), NAS and printer (snmpsim) on the lab "
    "network, in the client's network, nas and printers classes (docs/lab.md).",
)
@json_option()
@click.pass_obj
def up(
    app: Application,
    count: int,
    distro: str,
    name: str,
    inventories_dir: Path | None,
    timeout: float,
    devices: bool,
    as_json: bool,
) -> None:
    """Start N hosts (default 3) and write the lab client, ready for `mspctl apply <name>`.

    Host 1 is a server and the MSP monitoring/backup host, host 2 a server, the others
    workstations. The first run builds the Debian image (about a minute); later runs take a
    few seconds. Leftovers of a killed run are removed first.
    """
    from mspctl import lab as domain

    workspace = app.workspace
    target = inventories_dir if inventories_dir is not None else workspace.config.inventories_dir
    state = domain.up(
        name, count, distro, target, progress=app.info, timeout=timeout, devices=devices
    )
    if state.inventory_dir:  # the lab's secrets, vault-encrypted; `mspctl apply` finds the key
        from mspctl.lab.inventory import write_vault

        write_vault(Path(state.inventory_dir), workspace.config.home / "vault" / f"{name}.pass")
    if as_json:
        app.print_json(state.to_dict())
        return
    _print_hosts(app, state)
    app.success(
        f"lab {name}: {len(state.hosts)} {distro} hosts SSH-ready in {state.ready_seconds:.1f} s"
    )
    if state.inventory_dir:
        app.info(f"client inventory: {state.inventory_dir}  (try: mspctl apply {name} --check)")


@lab.command()
@name_option
@click.option("--all", "all_labs", is_flag=True, help="Show every lab on this machine.")
@json_option()
@click.pass_obj
def status(app: Application, name: str, all_labs: bool, as_json: bool) -> None:
    """Show a lab's hosts: address, groups, running, answering SSH."""
    from mspctl import lab as domain

    labs = domain.list_labs() if all_labs else [domain.status(name)]
    if as_json:
        app.print_json([s.to_dict() for s in labs] if all_labs else labs[0].to_dict())
        return
    if all_labs and not labs:
        app.info("no lab on this machine")
    for lab_status in labs:
        _print_status(app, lab_status)


@lab.command()
@name_option
@click.option("--all", "all_labs", is_flag=True, help="Take down every lab on this machine.")
@click.pass_obj
def down(app: Application, name: str, all_labs: bool) -> None:
    """Stop and remove a lab: hosts, namespaces, mounts, bridge, firewall table, inventory.

    Also removes what a killed `up` left behind, so it is safe to run before `up`.
    """
    from mspctl import lab as domain

    if all_labs:
        names = domain.down_all(progress=app.info)
        app.success(f"removed labs: {', '.join(names)}" if names else "no lab to remove")
        return
    if domain.down(name, progress=app.info):
        app.success(f"lab {name} removed")
    else:
        app.info(f"lab {name} is not up: nothing to remove")


@lab.group()
def image() -> None:
    """The cached Debian images the lab hosts boot (one per distro and recipe)."""


@image.command("build")
@click.option(
    "--distro",
    "distros",
    type=click.Choice(DISTROS),
    multiple=True,
    help="Distro to build (repeatable) [default: all].",
)
@click.option("--force", is_flag=True, help="Rebuild even when cached.")
@click.pass_obj
def image_build(app: Application, distros: tuple[str, ...], force: bool) -> None:
    """Build the images now (CI warms the cache this way); `up` builds them on demand."""
    from mspctl.lab import rootfs
    from mspctl.lab._system import require_root

    require_root("image build")
    for distro in distros or DISTROS:
        built = rootfs.build(distro, force=force, progress=app.info)
        app.success(f"{distro}: {built.tarball}")


@image.command("list")
@json_option()
@click.pass_obj
def image_list(app: Application, as_json: bool) -> None:
    """List cached images; `current` ones match today's recipe."""
    from mspctl.lab import rootfs

    rows = rootfs.list_images()
    if as_json:
        app.print_json(rows)
        return
    from rich.table import Table

    table = Table("distro", "key", "size", "unpacked", "current", "tarball")
    for row in rows:
        size = f"{row['tarball_bytes'] / 1e6:.0f} MB" if row["tarball_bytes"] else "-"
        table.add_row(
            row["distro"],
            row["key"],
            size,
            "yes" if row["unpacked"] else "no",
            "yes" if row["current"] else "no",
            row["tarball"],
        )
    app.out.print(table)


@image.command("clean")
@click.option("--all", "all_images", is_flag=True, help="Also remove the current images.")
@click.pass_obj
def image_clean(app: Application, all_images: bool) -> None:
    """Remove cached images of older recipes (all of them with --all)."""
    from mspctl.lab import rootfs
    from mspctl.lab._system import require_root

    require_root("image clean")
    removed = rootfs.clean(keep_current=not all_images)
    app.success(f"removed {', '.join(removed)}" if removed else "nothing to remove")


# -- rendering --------------------------------------------------------------------------------
def _print_hosts(app: Application, state: LabState) -> None:
    from rich.table import Table

    table = Table("host", "address", "groups", title=f"lab {state.name} ({state.distro})")
    for host in state.hosts:
        table.add_row(host.name, host.ip, ", ".join(host.groups))
    app.out.print(table)


def _print_status(app: Application, lab_status: LabStatus) -> None:
    from rich.table import Table

    state = lab_status.state
    if state is None:
        app.out.print(f"lab {lab_status.name}: absent", markup=False)
        return
    table = Table(
        "host",
        "address",
        "groups",
        "running",
        "ssh",
        title=f"lab {state.name}: {lab_status.summary} ({state.distro}, {state.subnet})",
    )
    for host in lab_status.hosts:
        table.add_row(
            host.name,
            host.ip,
            ", ".join(host.groups),
            "yes" if host.running else "no",
            "yes" if host.ssh else "no",
        )
    app.out.print(table)
    if state.inventory:
        app.out.print(f"inventory: {state.inventory}", markup=False)
    if state.hosts:
        first = state.hosts[0]
        app.out.print(
            f"login: ssh -i {state.ssh_key} -o UserKnownHostsFile={state.known_hosts} "
            f"root@{first.ip}",
            markup=False,
        )
