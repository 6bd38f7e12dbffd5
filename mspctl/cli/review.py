"""``mspctl review``: the review-meeting pack of a client's year (HTML, PDF or JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mspctl.cli.options import lang_option

if TYPE_CHECKING:
    from mspctl.app import Application


@click.command()
@click.argument("client")
@click.option("--year", required=True, metavar="YYYY", help="The year to review.")
@lang_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("html", "pdf", "json")),
    help="Output format [default: the -o suffix, else html].",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),  # checked when written
    help="Write to this file instead of standard output (a PDF needs one).",
)
@click.pass_obj
def review(
    app: Application,
    client: str,
    year: str,
    lang: str | None,
    fmt: str | None,
    output: Path | None,
) -> None:
    """The year per month, recurring failures, the warranty replacement plan for the next 12
    months and the upgrade page (what the next tier adds, as `mspctl tiers diff` shows it)."""
    from mspctl.errors import BadInput
    from mspctl.reports.branding import load_branding
    from mspctl.reports.document import render_review
    from mspctl.reports.monthly import client_today
    from mspctl.reports.publish import format_of, write_document
    from mspctl.reports.review import build_review, parse_year

    workspace = app.workspace
    today = client_today(workspace.clients.get(client, inventory=False))
    number = parse_year(year, today)
    kind = format_of(fmt, output, directory=False)
    if output is None and kind == "pdf":
        raise BadInput("a PDF needs a file", key="-o")
    data = build_review(workspace, client, number, today=today, lang=lang)
    if kind == "json":
        if output is None:
            app.print_json(data)
            return
        import json

        from mspctl.reports import write_output

        write_output(output, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        app.success(f"wrote {output} (json, {client}, {number})")
        return
    branding, logo = load_branding(workspace.config.project_dir)
    if output is None:
        click.echo(render_review(data, branding, logo), nl=False)
        return
    write_document(output, kind, lambda: render_review(data, branding, logo))
    app.success(f"wrote {output} ({kind}, {client}, {number})")
