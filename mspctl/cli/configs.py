"""``mspctl configs``: network device configuration backups (list, show, diff, restore)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mspctl.cli.options import json_option, vault_password_file_option
from mspctl.errors import EXIT_CODES_HELP

if TYPE_CHECKING:
    from mspctl.app import Application

REF_HELP = "a version, the run that stored it, or a run id or date (YYYY-MM-DD) of the run store"


@click.group()
def configs() -> None:
    """Network device configurations, backed up by every run (a git repository per client)."""


@configs.command("list")
@click.argument("client")
@click.argument("device", required=False)
@json_option()
@click.pass_obj
def list_(app: Application, client: str, device: str | None, as_json: bool) -> None:
    """CLIENT's devices with their newest version, or DEVICE's versions, newest first."""
    store = app.workspace.netconfigs
    app.workspace.clients.get(client)
    if device:
        rows = [v.as_dict() for v in store.versions(client, device)]
    else:
        rows = [store.versions(client, name)[0].as_dict() for name in store.devices(client)]
    if as_json:
        app.print_json(rows)
        return
    if not rows:
        app.info("no configuration stored")
        return
    from rich.table import Table

    table = Table("device", "version", "stored", "run", "mode", title=f"Configurations of {client}")
    for row in rows:
        table.add_row(
            row["device"],
            row["version"],
            row["date"][:19].replace("T", " "),
            row["run_id"] or "-",
            row["mode"] or "-",
        )
    app.out.print(table)


@configs.command()
@click.argument("client")
@click.argument("device")
@click.option("--version", "ref", metavar="REF", help=f"[default: the newest] {REF_HELP}.")
@click.pass_obj
def show(app: Application, client: str, device: str, ref: str | None) -> None:
    """Print a stored configuration of DEVICE (secret values masked)."""
    from mspctl.netconfigs import version_for

    version = version_for(app.workspace, client, device, ref)
    click.echo(app.workspace.netconfigs.text(client, version), nl=False)


@configs.command()
@click.argument("client")
@click.argument("device")
@click.option("--from", "from_ref", metavar="REF", help="[default: the version before --to]")
@click.option("--to", "to_ref", metavar="REF", help=f"[default: the newest] {REF_HELP}.")
@json_option()
@click.pass_obj
def diff(
    app: Application,
    client: str,
    device: str,
    from_ref: str | None,
    to_ref: str | None,
    as_json: bool,
) -> None:
    """What changed in DEVICE's configuration between two versions, runs or dates."""
    from mspctl.netconfigs import diff as config_diff

    data = config_diff(app.workspace, client, device, from_ref, to_ref)
    if as_json:
        app.print_json(data)
    elif data["diff"]:
        click.echo(data["diff"])
    else:
        app.info("no change")


@configs.command(epilog=EXIT_CODES_HELP)
@click.argument("client")
@click.argument("device")
@click.option("--version", "ref", metavar="REF", help=f"[default: the newest] {REF_HELP}.")
@click.option("--check", is_flag=True, help="Show what would be pushed; change nothing.")
@vault_password_file_option
@json_option()
@click.pass_obj
def restore(
    app: Application,
    client: str,
    device: str,
    ref: str | None,
    check: bool,
    vault_password_file: Path | None,
    as_json: bool,
) -> int:
    """Push a stored configuration back to DEVICE (a recorded run of the network policy).

    Lines the device has and the version lacks are negated, then the missing lines added;
    lines holding a masked secret (enable secret, passwords, SNMP communities) stay as the
    device has them."""
    from mspctl.netconfigs import restore as restore_config
    from mspctl.netconfigs import version_for
    from mspctl.results import render_diff

    version = version_for(app.workspace, client, device, ref)
    outcome = restore_config(
        app.workspace,
        client,
        device,
        version,
        check=check,
        vault_password_file=vault_password_file,
    )
    result = outcome.result
    tasks = [t for t in result.tasks if t.action.endswith("network_config")]
    text = "\n".join(render_diff(t) for t in tasks if t.changed)
    skipped = [line for t in tasks for line in t.result.get("skipped") or []]
    if as_json:
        app.print_json(
            {
                "run_id": outcome.run_id,
                "device": device,
                "version": version.as_dict(),
                "mode": outcome.plan.mode,
                "status": result.status,
                "exit_code": int(outcome.exit_code),
                "changed": bool(result.changed),
                "diff": text,
                "skipped": skipped,
            }
        )
        return int(outcome.exit_code)
    if text:
        click.echo(text)
    for line in skipped:
        app.warn(f"not restored (masked secret): {line}")
    if result.failed_hosts:
        messages = [t.message for t in tasks if t.status in ("failed", "unreachable")]
        app.error(f"{device}: {'; '.join(m for m in messages if m) or 'failed'}")
    elif not result.changed:
        app.info(f"{device} already has version {version.short}")
    app.info(f"run id: {outcome.run_id}")
    return int(outcome.exit_code)
