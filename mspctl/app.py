"""The application object that travels in ``ctx.obj``.

It owns all output, so commands stay thin and exit codes and messages are decided here, and
holds the :class:`~mspctl.workspace.Workspace` (configuration, catalogue, clients, run store)
that commands hand to the domain. Heavy modules (rich, sqlalchemy) load on first use only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mspctl.errors import ExitCode, MspctlError
from mspctl.workspace import Workspace

if TYPE_CHECKING:
    from rich.console import Console


class Application:
    def __init__(
        self,
        *,
        project_dir: Path | None = None,
        home: Path | None = None,
        db_url: str | None = None,
        color: bool | None = None,
        quiet: bool = False,
    ) -> None:
        # what commands hand to the domain; each part is built on first use
        self.workspace = Workspace(project_dir=project_dir, home=home, db_url=db_url)
        self._color = color
        self.quiet = quiet

    # -- output -----------------------------------------------------------------------------
    def _make_console(self, stderr: bool) -> Console:
        from mspctl.display import make_console

        no_color = None if self._color is None else not self._color
        console = make_console(stderr=stderr, no_color=no_color)
        if not console.is_terminal:  # logs and pipes: wide enough for tables, never wrapped ids
            console.width = int(os.environ.get("COLUMNS") or 160)
        return console

    @property
    def out(self) -> Console:
        """Console for data (stdout). Built per use so tests capturing stdout see it."""
        return self._make_console(stderr=False)

    @property
    def err(self) -> Console:
        """Console for messages and live progress (stderr)."""
        return self._make_console(stderr=True)

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(message, markup=False)

    def success(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"[green]{_escape(message)}[/green]")

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {_escape(message)}")

    def error(self, message: str) -> None:
        self.err.print(f"[red]error:[/red] {_escape(message)}")

    def print_json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()

    def abort(self, message: str, code: ExitCode = ExitCode.FAILED) -> NoReturn:
        raise MspctlError(message, code)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
