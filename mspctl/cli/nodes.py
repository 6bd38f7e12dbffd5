"""``mspctl nodes``: the execution nodes of client sites (docs/nodes.md): list, check, prepare."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from mspctl.cli.options import json_option
from mspctl.errors import EXIT_CODES_HELP, ExitCode

if TYPE_CHECKING:
    from mspctl.app import Application
    from mspctl.nodes import NodeCheck


@click.group()
def nodes() -> None:
    """Execution nodes: the box on a client site's LAN that runs that site's jobs."""


@nodes.command("list")
@json_option()
@click.pass_obj
def list_(app: Application, as_json: bool) -> None:
    """List the execution nodes named in client sites."""
    from mspctl.nodes import entries

    rows = [e.as_dict() for e in entries(app.workspace)]
    if as_json:
        app.print_json(rows)
        return
    from rich.table import Table

    from mspctl.display import plain

    table = Table("node", "client", "site", "ssh", "capacity", "path", title="Execution nodes")
    for row in rows:
        ssh = f"{row['user']}@{row['host']}:{row['port']}"
        cells = (row["name"], row["client"], row["site"], ssh, row["capacity"], row["path"])
        table.add_row(*map(plain, cells))
    app.out.print(table)


@nodes.command(epilog=EXIT_CODES_HELP)
@click.argument("names", nargs=-1)
@json_option()
@click.pass_obj
def check(app: Application, names: tuple[str, ...], as_json: bool) -> None:
    """Check that nodes (default: all) answer over SSH and have this controller's Python,
    ansible-core, ansible-runner and collection. Exit 1 when one does not."""
    from mspctl import nodes as domain

    chosen = [domain.find(app.workspace, n) for n in names] or domain.entries(app.workspace)
    results = [domain.check(app.workspace.config, entry) for entry in chosen]
    _report(app, results, as_json)


@nodes.command(epilog=EXIT_CODES_HELP)
@click.argument("names", nargs=-1, required=True)
@json_option()
@click.pass_obj
def prepare(app: Application, names: tuple[str, ...], as_json: bool) -> None:
    """Install a node's venv (this controller's ansible-core and ansible-runner) and the
    project's collection, copied from here (the node needs no internet), pinning its SSH host
    key on first use; then check it."""
    from mspctl import nodes as domain

    chosen = [domain.find(app.workspace, n) for n in names]
    results = [domain.prepare(app.workspace.config, entry, app.info) for entry in chosen]
    _report(app, results, as_json)


def _report(app: Application, results: list[NodeCheck], as_json: bool) -> None:
    if as_json:
        app.print_json([r.as_dict() for r in results])
    else:
        for result in results:
            name = result.entry.node.name
            if result.ok:
                versions: dict[str, Any] = result.versions
                app.success(
                    f"{name}: ready (Python {versions['python']}, ansible-core "
                    f"{versions['ansible-core']}, ansible-runner {versions['ansible-runner']}, "
                    f"collection {versions['collection']})"
                )
            else:
                app.error(f"{name}: {'; '.join(result.problems)}")
    if any(not r.ok for r in results):
        raise click.exceptions.Exit(ExitCode.FAILED)
