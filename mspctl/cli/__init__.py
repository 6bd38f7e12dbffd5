"""The ``mspctl`` command group. It only registers commands; each lives in its own module.

Commands load lazily so ``mspctl --help`` does not import ansible, rich or SQLAlchemy.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from mspctl import __version__
from mspctl.errors import EXIT_CODES_HELP, ExitCode, MspctlError

# command name -> (module, attribute, one-line help shown by `mspctl --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "apply": ("mspctl.cli.apply", "apply", "Apply a client's tier policies to its hosts."),
    "awx": ("mspctl.cli.awx", "awx", "Export clients as AWX inventories and job templates."),
    "clients": ("mspctl.cli.clients", "clients", "List, show and scaffold client inventories."),
    "configs": (
        "mspctl.cli.configs",
        "configs",
        "Network device configuration backups: list, show, diff, restore.",
    ),
    "diff": ("mspctl.cli.diff", "diff", "Compliance changes between two runs, or fleet-wide."),
    "drift": ("mspctl.cli.drift", "drift", "Check mode: drift, pending changes, failing controls."),
    "incidents": (
        "mspctl.cli.incidents",
        "incidents",
        "Alertmanager's alerts as incidents: SLA deadlines, ack, resolve.",
    ),
    "lab": ("mspctl.cli.lab", "lab", "Real local Debian hosts for tests and rehearsals."),
    "maintenance": (
        "mspctl.cli.maintenance",
        "maintenance",
        "Book, list and cancel one-off maintenance windows.",
    ),
    "nodes": ("mspctl.cli.nodes", "nodes", "Execution nodes of client sites."),
    "notify": ("mspctl.cli.notify", "notify", "Test email and webhook notifications."),
    "report": ("mspctl.cli.report", "report", "Compliance report (json/html/md/junit/sarif)."),
    "review": (
        "mspctl.cli.review",
        "review",
        "Review-meeting pack of a client's year (html/pdf/json).",
    ),
    "run-due": ("mspctl.cli.run_due", "run_due", "Nightly fleet run: what is due, per client."),
    "runs": ("mspctl.cli.runs", "runs", "Browse the run store."),
    "schedule": (
        "mspctl.cli.schedule",
        "schedule",
        "Timers/pipelines that start run-due when patch windows open.",
    ),
    "tiers": ("mspctl.cli.tiers", "tiers", "Browse and compare the tier catalogue."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when invoked, and which maps every outcome
    (results, usage errors, mspctl errors, interrupts) to the documented exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        code = _run(
            lambda: super(LazyGroup, self).main(
                args, prog_name, complete_var, standalone_mode=False, **extra
            )
        )
        if standalone_mode:
            sys.exit(code)
        return code


def _run(invoke: Callable[[], Any]) -> int:
    code: int = ExitCode.OK
    try:
        rv = invoke()
        if isinstance(rv, int):
            code = rv
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        code = ExitCode.ABORTED
    except click.ClickException as exc:  # usage errors included: bad input, exit 3
        exc.show()
        code = ExitCode.BAD_INPUT
    except MspctlError as exc:
        click.echo(f"error: {one_line(exc.message)}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("Aborted.", err=True)
        code = ExitCode.ABORTED
    except Exception as exc:  # a bug: one line, the traceback on request
        if os.environ.get("MSPCTL_DEBUG"):
            raise
        from mspctl.results import mask_remembered  # a secret read by this run never shows

        click.echo(
            f"internal error: {type(exc).__name__}: {one_line(mask_remembered(str(exc)))} "
            "(set MSPCTL_DEBUG=1 for the traceback)",
            err=True,
        )
        code = ExitCode.FAILED
    return int(code)


MAX_MESSAGE = 1000


def one_line(message: str) -> str:
    """An error message as one printable line of bounded length (it may quote input files)."""
    from mspctl.display import sanitize

    text = sanitize(message.replace("\r\n", " ").replace("\n", " "))
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES_HELP,
)
@click.version_option(__version__, prog_name="mspctl")
@click.option(
    "--project-dir",
    envvar="MSPCTL_PROJECT_DIR",
    show_envvar=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Project tree with tiers/, inventories/, playbooks/ [default: found from the cwd].",
)
@click.option(
    "--home",
    envvar="MSPCTL_HOME",
    show_envvar=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="State directory: run store and run artifacts [default: ~/.local/state/mspctl].",
)
@click.option(
    "--db-url",
    envvar="MSPCTL_DB_URL",
    show_envvar=True,
    help="SQLAlchemy URL of the run store [default: sqlite in the state directory].",
)
@click.option(
    "--color/--no-color",
    envvar="MSPCTL_COLOR",
    show_envvar=True,
    default=None,
    help="Force or disable colour [default: auto].",
)
@click.option(
    "-q",
    "--quiet",
    envvar="MSPCTL_QUIET",
    show_envvar=True,
    is_flag=True,
    help="Only print results and errors.",
)
@click.pass_context
def mspctl(
    ctx: click.Context,
    project_dir: Path | None,
    home: Path | None,
    db_url: str | None,
    color: bool | None,
    quiet: bool,
) -> None:
    """Service tiers of a managed-service provider, applied to client hosts as Ansible policy."""
    from mspctl.app import Application

    ctx.obj = Application(
        project_dir=project_dir, home=home, db_url=db_url, color=color, quiet=quiet
    )


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    mspctl.main(args=argv, prog_name="mspctl")
