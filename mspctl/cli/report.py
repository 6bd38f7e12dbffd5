"""``mspctl report``: the compliance report of a client's run, in five formats."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mspctl.reports import FORMATS, write_output

if TYPE_CHECKING:
    from mspctl.app import Application


@click.command()
@click.argument("client")
@click.option(
    "--run",
    "run_ref",
    metavar="ID|DATE",
    help="Run id (or prefix) or date YYYY-MM-DD [default: the newest run].",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),  # checked when written
    help="Write to this file instead of standard output.",
)
@click.pass_obj
def report(
    app: Application, client: str, run_ref: str | None, fmt: str, output: Path | None
) -> None:
    """Compliance score per policy and host, failing and waived controls with evidence, drift
    and the tier's contract terms. JSON carries format_version and validates against
    mspctl/reports/schema/report-v1.json."""
    from mspctl.reports import build, render

    data = build(app.workspace, client, run_ref)
    text = render(data, fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_output(output, text)
        app.success(f"wrote {output} ({fmt}, run {data['run']['id']})")
