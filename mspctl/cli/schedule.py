"""``mspctl schedule``: timers/pipelines that start ``run-due`` when the patch windows open."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mspctl.cli.options import json_option

if TYPE_CHECKING:
    from mspctl.app import Application

EMITS = ("systemd", "cron", "gitlab-ci", "github-actions")


@click.command()
@click.option(
    "--emit",
    type=click.Choice(EMITS),
    help="Scheduler to write for [required unless --json].",
)
@click.option(
    "--client",
    "clients",
    multiple=True,
    metavar="CLIENT",
    help="Only this client (repeatable) [default: every client].",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Directory (systemd: always) or file to write [default: stdout].",
)
@click.option(
    "--mspctl",
    "mspctl_bin",
    default="mspctl",
    show_default=True,
    help="How the scheduler invokes mspctl (an absolute path for systemd/cron).",
)
@json_option("Print the computed triggers as JSON instead of emitting.")
@click.pass_obj
def schedule(
    app: Application,
    emit: str | None,
    clients: tuple[str, ...],
    output: Path | None,
    mspctl_bin: str,
    as_json: bool,
) -> None:
    """Write the timers/pipelines that run `mspctl run-due` when the tiers' patch windows open,
    in each client's time zone."""
    from mspctl import schedules
    from mspctl.errors import BadInput

    triggers = schedules.compute_triggers(app.workspace, clients)
    if as_json:
        app.print_json([trigger.as_dict() for trigger in triggers])
        return
    if emit is None:
        raise BadInput("choose a scheduler with --emit (or --json for the triggers)")
    files = schedules.EMITTERS[emit](triggers, mspctl_bin)
    if output is None:
        for name, content in files.items():
            if len(files) > 1:
                click.echo(f"# ---- {name}")
            click.echo(content, nl=False)
        return
    if len(files) > 1 or output.is_dir() or str(output).endswith("/"):
        output.mkdir(parents=True, exist_ok=True)
        paths = [output / name for name in files]
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        paths = [output]
    for path, content in zip(paths, files.values(), strict=True):
        path.write_text(content, encoding="utf-8")
    app.success(f"wrote {len(paths)} file(s) for {len(triggers)} trigger(s) to {output}")
