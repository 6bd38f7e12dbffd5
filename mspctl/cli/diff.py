"""``mspctl diff``: what changed in compliance between two runs, or across every client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from mspctl.cli.options import json_option

if TYPE_CHECKING:
    from mspctl.app import Application

FORMATS = ("table", "json", "md")


@click.command()
@click.argument("client", required=False)
@click.option("--from", "from_ref", metavar="RUN|DATE", help="[default: the run before --to]")
@click.option("--to", "to_ref", metavar="RUN|DATE", help="[default: the newest run]")
@click.option("--all", "fleet", is_flag=True, help="Every client: last run vs the one before.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@json_option("Same as --format json.")
@click.pass_obj
def diff(
    app: Application,
    client: str | None,
    from_ref: str | None,
    to_ref: str | None,
    fleet: bool,
    fmt: str,
    as_json: bool,
) -> None:
    """Newly failing, fixed, still failing, newly waived, expired waivers, hosts added or
    removed and asset changes of CLIENT between two runs (default: the last two)."""
    from mspctl.errors import BadInput

    fmt = "json" if as_json else fmt
    if fleet == bool(client):
        raise BadInput("give a CLIENT or --all (not both)")
    if fleet:
        if from_ref or to_ref:
            raise BadInput("--from/--to apply to one client, not to --all")
        _fleet(app, fmt)
        return
    assert client is not None
    from mspctl.compliance import client_diff
    from mspctl.netconfigs import changes_between_runs

    data = client_diff(app.workspace, client, from_ref, to_ref)
    data["config_changes"] = changes_between_runs(app.workspace, client, data["from"], data["to"])
    if fmt == "json":
        app.print_json(data)
    elif fmt == "md":
        click.echo(_markdown(data), nl=False)
    else:
        _table(app, data)


SECTIONS = ("newly_failing", "fixed", "still_failing", "newly_waived", "waivers_expired")


def _table(app: Application, data: dict[str, Any]) -> None:
    from rich.table import Table

    before, after = data["summary"]["from"], data["summary"]["to"]
    app.out.print(
        f"[bold]{data['client']}[/bold]: run {data['from']['id']} "
        f"({before['score']} %) → {data['to']['id']} ({after['score']} %)"
    )
    table = Table("change", "host", "control", "now", title="Compliance changes")
    for section in SECTIONS:
        for item in data[section]:
            table.add_row(
                section.replace("_", " "),
                item["host"],
                f"{item['control_id']} — {item['title']}",
                item["to"],
            )
    for host in data["hosts_added"]:
        table.add_row("host added", host, "", "")
    for host in data["hosts_removed"]:
        table.add_row("host removed", host, "", "")
    for change in data["asset_changes"]:
        table.add_row(
            "asset changed", change["host"], change["field"], f"{change['from']} → {change['to']}"
        )
    for change in data.get("config_changes", []):
        table.add_row(
            "config changed",
            change["host"],
            f"{change['from'] or 'new'} → {change['to']}",
            change["summary"],
        )
    if table.row_count:
        app.out.print(table)
    else:
        app.info("no change")


def _markdown(data: dict[str, Any]) -> str:
    lines = [
        f"# Compliance changes — {data['client']}",
        "",
        f"From run `{data['from']['id']}` ({data['summary']['from']['score']} %) to "
        f"`{data['to']['id']}` ({data['summary']['to']['score']} %).",
        "",
    ]
    for section in SECTIONS:
        items = data[section]
        lines.append(f"## {section.replace('_', ' ').capitalize()} ({len(items)})")
        lines += [f"- {i['host']}: `{i['control_id']}` {i['title']}" for i in items] or ["None."]
        lines.append("")
    lines.append(
        f"## Hosts added: {', '.join(data['hosts_added']) or 'none'}; "
        f"removed: {', '.join(data['hosts_removed']) or 'none'}"
    )
    lines += ["", f"## Asset changes ({len(data['asset_changes'])})"]
    lines += [
        f"- {c['host']} `{c['field']}`: {c['from']} → {c['to']}" for c in data["asset_changes"]
    ] or ["None."]
    changes = data.get("config_changes", [])
    lines += ["", f"## Device configuration changes ({len(changes)})"]
    lines += [
        f"- {c['host']}: `{c['from'] or 'new'}` → `{c['to']}` ({c['summary']}; "
        f"`mspctl configs diff {data['client']} {c['host']}`)"
        for c in changes
    ] or ["None."]
    return "\n".join(lines) + "\n"


def _fleet(app: Application, fmt: str) -> None:
    from mspctl.compliance import fleet_diff

    rows = fleet_diff(app.workspace)
    if fmt == "json":
        app.print_json(rows)
        return
    if fmt == "md":
        lines = [
            "| client | newly failing | fixed | newly waived | failing now | hosts +/- | "
            "asset changes |",
            "|---|---:|---:|---:|---:|---|---:|",
        ]
        lines += [
            f"| {r['client']} | {r['newly_failing']} | {r['fixed']} | {r['newly_waived']} "
            f"| {r['failing_now']} | +{len(r['hosts_added'])}/-{len(r['hosts_removed'])} "
            f"| {r['asset_changes']} |"
            for r in rows
        ]
        click.echo("\n".join(lines))
        return
    from rich.table import Table

    table = Table(
        "client",
        "newly failing",
        "fixed",
        "newly waived",
        "failing now",
        "hosts +/-",
        "asset changes",
        title="Fleet: last run vs the one before",
    )
    for r in rows:
        table.add_row(
            r["client"],
            str(r["newly_failing"]),
            str(r["fixed"]),
            str(r["newly_waived"]),
            str(r["failing_now"]),
            f"+{len(r['hosts_added'])}/-{len(r['hosts_removed'])}",
            str(r["asset_changes"]),
        )
    app.out.print(table)
