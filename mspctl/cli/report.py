"""``mspctl report``: the compliance report of a client's run, in five formats."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mspctl.errors import BadInput
from mspctl.reports import FORMATS

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
        _write(output, text)
        app.success(f"wrote {output} ({fmt}, run {data['run']['id']})")


def _write(output: Path, text: str) -> None:
    """Write beside the target, then rename over it: the report is whole or absent (a failure
    leaves nothing half-written and an older report untouched). OS errors are bad input."""
    temp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    created = False
    try:
        if output.is_dir():
            raise IsADirectoryError(21, "is a directory")
        if not output.parent.is_dir():
            raise FileNotFoundError(2, "directory not found")
        with temp.open("x", encoding="utf-8") as handle:  # honours the umask, like write_text
            created = True
            handle.write(text)
        os.replace(temp, output)
    except OSError as exc:
        if created:
            with contextlib.suppress(OSError):
                temp.unlink()
        raise BadInput(f"cannot write the report: {exc.strerror or exc}", file=output) from None
