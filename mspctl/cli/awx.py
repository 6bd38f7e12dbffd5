"""``mspctl awx``: clients as AWX resources, for an MSP that outgrows the CLI (docs/nodes.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mspctl.errors import EXIT_CODES_HELP, BadInput

if TYPE_CHECKING:
    from mspctl.app import Application


@click.group()
def awx() -> None:
    """AWX (Ansible Automation Platform): export clients for `awx import`."""


@awx.command("export", epilog=EXIT_CODES_HELP)
@click.argument("clients", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the JSON to this file instead of standard output.",
)
@click.option(
    "--organization",
    default="MSP",
    show_default=True,
    help="The AWX organization that holds everything.",
)
@click.option(
    "--project-url",
    default="https://git.example.invalid/msp/mspctl.git",
    show_default=True,
    help="The git URL AWX clones this project from (the default is a placeholder).",
)
@click.option("--branch", default="main", show_default=True, help="The project's git branch.")
@click.pass_obj
def export(
    app: Application,
    clients: tuple[str, ...],
    output: Path | None,
    organization: str,
    project_url: str,
    branch: str,
) -> None:
    """Write CLIENTS as the JSON `awx import` reads: the organization, the project, per client
    an inventory (groups, hosts, non-secret variables, the tier) and a job template applying
    its tier. Secrets are never written: the credentials and the execution nodes' instance
    groups that AWX needs are listed, to create by hand."""
    from mspctl import awx as domain

    for key, value in (("--organization", organization), ("--project-url", project_url)):
        if not value.strip():
            raise BadInput("must not be empty", key=key)
    result = domain.export(
        app.workspace,
        list(clients),
        organization=organization,
        project_url=project_url,
        branch=branch,
    )
    text = json.dumps(result.data, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        from mspctl.reports import write_output

        write_output(output, text)  # whole or absent
        app.success(f"wrote {output}: {len(result.data['inventory'])} inventories for awx import")
    for secret in result.omitted:
        app.info(f"not exported (secret): {secret}")
    if project_url == domain.PLACEHOLDER_URL:
        app.warn(f"project URL {project_url} is a placeholder: set --project-url")
    app.info("create in AWX by hand, before `awx import`:")
    for line in result.manual:
        app.info(f"  - {line}")
