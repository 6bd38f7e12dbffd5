"""``mspctl clients``: list, show and scaffold client inventories."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from mspctl.cli.options import json_option, tier_option

if TYPE_CHECKING:
    from mspctl.app import Application


@click.group()
def clients() -> None:
    """Client inventories (inventories/<client>/)."""


@clients.command("list")
@json_option()
@click.pass_obj
def list_(app: Application, as_json: bool) -> None:
    """List clients with their contracted and effective tier."""
    from mspctl.errors import BadInput, ExitCode

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
    if "trial" in contract:
        trial = contract["trial"]
        app.out.print(f"trial: {trial['tier']} from {trial['start']} to {trial['end']}")
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
