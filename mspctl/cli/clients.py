"""``mspctl clients``: list, show and scaffold client inventories; offboard and restore."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mspctl.cli.options import json_option, tier_option, vault_password_file_option, wait_option

if TYPE_CHECKING:
    from mspctl.app import Application


@click.group()
def clients() -> None:
    """Client inventories (inventories/<client>/)."""


@clients.command("list")
@click.option(
    "--trials", "trials", is_flag=True, help="List the trials that end soon (see --within)."
)
@click.option(
    "--within",
    type=click.IntRange(0, 3660),
    default=14,
    show_default=True,
    help="With --trials: the trials ending within this many days.",
)
@json_option()
@click.pass_obj
def list_(app: Application, trials: bool, within: int, as_json: bool) -> None:
    """List clients with their contracted and effective tier; with --trials, the trials
    ending within N days and what each client loses when its trial ends."""
    from mspctl.errors import BadInput, ExitCode

    if trials:
        _list_trials(app, within, as_json)
        return
    rows: list[dict[str, Any]] = []
    broken: list[str] = []
    for slug in app.workspace.clients.names():
        try:
            client = app.workspace.clients.get(slug)
            client.hosts  # noqa: B018 - a broken inventory is this client's problem only
        except BadInput as exc:
            broken.append(exc.message)
            continue
        effective = client.effective_tier()
        rows.append(
            {
                "client": slug,
                "name": client.data.name,
                "tier": client.data.contract.tier,
                "effective_tier": effective.name,
                "reason": effective.reason,
                "hosts": len(client.hosts),
            }
        )
    if as_json:
        app.print_json(rows)
    else:
        _clients_table(app, rows)
    for message in broken:  # one line per broken client, after the valid ones
        app.error(message)
    if broken:
        raise click.exceptions.Exit(ExitCode.BAD_INPUT)


def _list_trials(app: Application, within: int, as_json: bool) -> None:
    from mspctl.errors import ExitCode
    from mspctl.trials import ending

    found, broken = ending(app.workspace, within=within)
    if as_json:
        app.print_json([t.as_dict() for t in found])
    else:
        from rich.table import Table

        from mspctl.display import plain

        table = Table(
            "client",
            "trial",
            "ends",
            "days left",
            "then",
            "loses",
            title=f"Trials ending within {within} days",
        )
        for t in found:
            lost = [c["key"] for c in t.loses if c["kind"] == "lost"]
            changed = sum(1 for c in t.loses if c["kind"] == "changed")
            summary = ", ".join(lost) + (f" (+{changed} changed)" if changed else "")
            row = (t.client, t.tier, t.end.isoformat(), t.days_left, t.after, summary or "-")
            table.add_row(*map(plain, row))
        app.out.print(table)
    for message in broken:
        app.error(message)
    if broken:
        raise click.exceptions.Exit(ExitCode.BAD_INPUT)


def _clients_table(app: Application, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from mspctl.display import plain

    table = Table("client", "name", "contract", "effective tier", "hosts", title="Clients")
    for row in rows:
        shown = row["effective_tier"]
        if row["reason"] != "contract":
            shown = f"{shown} ({row['reason']})"
        table.add_row(*map(plain, (row["client"], row["name"], row["tier"], shown, row["hosts"])))
    app.out.print(table)


@clients.command()
@click.argument("client")
@json_option()
@click.pass_obj
def show(app: Application, client: str, as_json: bool) -> None:
    """Show a client's contract, effective tier and hosts."""
    data = app.workspace.clients.get(client).as_dict()
    if as_json:
        app.print_json(data)
        return
    from rich.table import Table

    from mspctl.display import plain

    hosts = data["hosts"]
    data = _escaped(data)
    contract = data["contract"]
    app.out.print(f"[bold]{data['name']}[/bold] ({data['client']}) — time zone {data['timezone']}")
    app.out.print(f"contract tier: {contract['tier']} since {contract['start']}")
    for trial in ([contract["trial"]] if "trial" in contract else []) + contract.get("trials", []):
        offer = f" (offer {trial['offer']})" if trial.get("offer") else ""
        app.out.print(f"trial: {trial['tier']} from {trial['start']} to {trial['end']}{offer}")
    effective = data["effective_tier"]
    app.out.print(f"effective tier: [bold]{effective['name']}[/bold] ({effective['reason']})")
    for contact in data.get("contacts", []):
        app.out.print(
            f"contact: {contact['name']} ({contact['role']}) "
            f"{contact.get('email', '')} {contact.get('phone', '')}".rstrip()
        )
    table = Table("host", "classes", "platform", "address", title="Hosts")
    for host in hosts:
        table.add_row(
            *map(
                plain,
                (
                    host["name"],
                    ", ".join(host["classes"]) or "-",
                    host["platform"],
                    host["address"] or "-",
                ),
            )
        )
    app.out.print(table)


def _escaped(data: Any) -> Any:
    """Every string of a client's data with rich markup escaped (names are free text)."""
    from rich.markup import escape

    if isinstance(data, dict):
        return {key: _escaped(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_escaped(value) for value in data]
    return escape(data) if isinstance(data, str) else data


@clients.command()
@click.argument("client")
@tier_option("Contracted tier.", required=True)
@click.option("--name", help="Display name [default: the client id].")
@click.option("--timezone", default="Europe/Paris", show_default=True, help="IANA time zone.")
@click.pass_obj
def new(app: Application, client: str, tier: str, name: str | None, timezone: str) -> None:
    """Scaffold a valid, empty client folder."""
    created = app.workspace.clients.create(client, tier, name=name, timezone=timezone)
    app.success(f"created {created.display_dir}/ (tier {tier}); add hosts to hosts.yml")


@clients.command()
@click.argument("client")
@click.option(
    "--check", is_flag=True, help="Change nothing; list every removal the offboarding would make."
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=True, file_okay=False),
    help="Write the hand-over package to this new folder [default: $MSPCTL_HOME/handover/"
    "<client>-<date>].",
)
@vault_password_file_option
@wait_option
@json_option("Print a machine-readable summary.")
@click.pass_obj
def offboard(
    app: Application,
    client: str,
    check: bool,
    output: Path | None,
    vault_password_file: Path | None,
    wait: bool,
    as_json: bool,
) -> int:
    """Stop serving CLIENT: retire every policy from every host, take the client off the MSP
    monitoring host, write the hand-over package and archive the inventory folder
    (inventories/.archive/<client>-<date>/; the run history stays). With --check, list the
    removals and touch nothing. An offboarded client is refused (exit 3) until
    `mspctl clients restore`.
    """
    from mspctl.offboard import offboard as run_offboarding

    if not as_json and not app.quiet:
        app.info(f"{'checking the offboarding of' if check else 'offboarding'} {client}")
    done = run_offboarding(
        app.workspace,
        client,
        check=check,
        vault_password_file=vault_password_file,
        output=output,
        on_wait=app.info,
    )
    if as_json:
        app.print_json(done.as_dict())
        return int(done.exit_code)
    from rich.table import Table

    from mspctl.display import plain

    verb = "would remove" if check else "removed"
    table = Table("host", "policy", "task", title=f"run {done.run_id}: {verb}")
    for row in done.removals:
        table.add_row(*map(plain, (row["host"], row["policy"] or "-", row["task"])))
    app.out.print(table)
    if done.failed_hosts:
        app.error(
            f"failed or unreachable: {', '.join(done.failed_hosts)}; nothing archived, "
            f"see mspctl runs show {done.run_id}"
        )
    elif not check:
        app.success(f"hand-over package: {done.handover}")
        app.success(f"inventory archived: {done.archive}")
    return int(done.exit_code)


@clients.command()
@click.argument("client")
@click.pass_obj
def restore(app: Application, client: str) -> None:
    """Bring an offboarded CLIENT back: its archived inventory folder returns to inventories/."""
    from mspctl.offboard import restore as restore_client

    target = restore_client(app.workspace, client)
    app.success(f"restored {client} to {target}; its next apply manages it again")
