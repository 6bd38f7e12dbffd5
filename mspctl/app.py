"""The application object that travels in ``ctx.obj``.

It owns configuration, the run store and all output, so commands stay thin and exit codes and
messages are decided here. Heavy modules (rich, sqlalchemy) load on first use only.
"""

from __future__ import annotations

import json
import os
import sys
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mspctl.config import Config
from mspctl.errors import ExitCode, MspctlError

if TYPE_CHECKING:
    from rich.console import Console

    from mspctl.catalogue import Catalogue
    from mspctl.clients import Client, ClientRegistry
    from mspctl.store import Store
    from mspctl.waivers import Waivers


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
        self._project_dir = project_dir
        self._home = home
        self._db_url = db_url
        self._color = color
        self.quiet = quiet

    # -- configuration and domain objects ---------------------------------------------------
    @cached_property
    def config(self) -> Config:
        return Config.load(self._project_dir, self._home, self._db_url)

    @cached_property
    def catalogue(self) -> Catalogue:
        from mspctl.catalogue import Catalogue

        return Catalogue.load(self.config.tiers_dir)

    @cached_property
    def clients(self) -> ClientRegistry:
        from mspctl.clients import ClientRegistry

        return ClientRegistry(self.config.inventories_dir, self.catalogue)

    @cached_property
    def store(self) -> Store:
        from mspctl.store import Store

        return Store.open(self.config.db_url)

    def waivers(self, client: Client) -> Waivers:
        """A client's waivers (bad input if the file is invalid)."""
        from mspctl.waivers import Waivers

        classes = {host.name: host.classes for host in client.hosts}
        return Waivers.load(client.directory, client.display_dir, classes)

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
