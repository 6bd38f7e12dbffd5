"""``mspctl report``: the compliance report of a client's run, in five formats; with
``--month``, the monthly client report (HTML or PDF, in the client's language)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mspctl.cli.options import lang_option
from mspctl.reports import FORMATS, write_output

if TYPE_CHECKING:
    from mspctl.app import Application


@click.command()
@click.argument("client", required=False)
@click.option(
    "--run",
    "run_ref",
    metavar="ID|DATE",
    help="Run id (or prefix) or date YYYY-MM-DD [default: the newest run].",
)
@click.option(
    "--month",
    metavar="YYYY-MM",
    help="The monthly client report of this month (HTML, PDF or JSON) instead of a run's.",
)
@click.option(
    "--all",
    "all_clients",
    is_flag=True,
    help="With --month: every client, one file each (<client>-<YYYY-MM>.<format>) in -o DIR.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0, max=64),
    default=0,
    help="With --all: processes building reports and browsers printing PDFs at a time "
    "[default: the CPU count, at most 8].",
)
@lang_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice((*FORMATS, "pdf")),
    help="Run report: json/html/md/junit/sarif [default: md]. Monthly report: html/pdf/json "
    "[default: the -o suffix, else html].",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),  # checked when written
    help="Write to this file (with --all: this directory) instead of standard output.",
)
@click.pass_obj
def report(
    app: Application,
    client: str | None,
    run_ref: str | None,
    month: str | None,
    all_clients: bool,
    jobs: int,
    lang: str | None,
    fmt: str | None,
    output: Path | None,
) -> None:
    """Compliance score per policy and host, failing and waived controls with evidence, drift
    and the tier's contract terms. JSON carries format_version and validates against
    mspctl/reports/schema/report-v1.json.

    With --month YYYY-MM: the client-facing monthly service report (summary, patching,
    backups, monitoring, maintenance, assets, compliance, contract), branded by branding.yml.
    """
    if month is None:
        _run_report(app, client, run_ref, fmt, output, all_clients, lang)
        return
    _monthly(app, client, month, all_clients, jobs, lang, fmt, output, run_ref)


def _run_report(
    app: Application,
    client: str | None,
    run_ref: str | None,
    fmt: str | None,
    output: Path | None,
    all_clients: bool,
    lang: str | None,
) -> None:
    from mspctl.errors import BadInput
    from mspctl.reports import build, render

    if all_clients or lang:
        raise BadInput("only with --month", key="--all" if all_clients else "--lang")
    if client is None:
        raise BadInput("missing the client name", key="CLIENT")
    if fmt == "pdf":
        raise BadInput("pdf is for the monthly report (--month)", key="--format")
    fmt = fmt or "md"
    data = build(app.workspace, client, run_ref)
    text = render(data, fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_output(output, text)
        app.success(f"wrote {output} ({fmt}, run {data['run']['id']})")


def _monthly(
    app: Application,
    client: str | None,
    month_text: str,
    all_clients: bool,
    jobs: int,
    lang: str | None,
    fmt: str | None,
    output: Path | None,
    run_ref: str | None,
) -> None:
    from mspctl.errors import BadInput
    from mspctl.reports.monthly import client_today, parse_month
    from mspctl.reports.publish import format_of, month_data, monthly_reports

    if run_ref is not None:
        raise BadInput("a monthly report covers the month, not one run", key="--run")
    month = parse_month(month_text)
    workspace = app.workspace
    if all_clients:
        if client is not None:
            raise BadInput("either a client or --all", key="--all")
        if output is None or not output.is_dir():
            raise BadInput("--all writes one file per client into an existing directory", key="-o")
        kind = format_of(fmt, None, directory=True)
        slugs = workspace.clients.names()
        # a month has begun when it has begun for any client (the one furthest east)
        if slugs:
            month.not_after(
                max(client_today(workspace.clients.get(s, inventory=False)) for s in slugs)
            )
        files = monthly_reports(
            workspace,
            slugs,
            month,
            fmt=kind,
            lang=lang,
            targets=lambda slug: output / f"{slug}-{month}.{kind}",
            jobs=jobs,
        )
        app.success(f"wrote {len(files)} monthly reports ({kind}, {month}) in {output}")
        return
    if client is None:
        raise BadInput("missing the client name (or --all)", key="CLIENT")
    month.not_after(client_today(workspace.clients.get(client, inventory=False)))
    kind = format_of(fmt, output, directory=False)
    if output is None:
        if kind == "pdf":
            raise BadInput("a PDF needs a file", key="-o")
        if kind == "json":
            app.print_json(month_data(workspace, client, month, lang))
            return
        from mspctl.reports.branding import load_branding
        from mspctl.reports.document import render_monthly

        branding, logo = load_branding(workspace.config.project_dir)
        data = month_data(workspace, client, month, lang)
        click.echo(render_monthly(data, branding, logo), nl=False)
        return
    monthly_reports(workspace, [client], month, fmt=kind, lang=lang, targets=lambda _s: output)
    app.success(f"wrote {output} ({kind}, {client}, {month})")
