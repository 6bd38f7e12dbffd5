"""Rich rendering shared by commands: the console, the live per-host progress and the recap
table.

Everything printed may carry text from input files or from managed hosts (names, finding values):
control characters are shown escaped (``\\x1b``), never sent raw to the terminal, and a stray
``[/]`` in a name never breaks rendering.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.table import Table
    from rich.text import Text

    from mspctl.runner import ProgressEvent

# C0 controls but tab and newline, DEL, C1 controls, and Unicode line/paragraph separators
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def sanitize(text: str) -> str:
    """Control characters as visible escapes (``\\x1b``), so they never reach a terminal raw."""
    return _CONTROL.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


def plain(value: Any) -> Text:
    """A value as a table cell or message part that is never read as markup."""
    from rich.text import Text

    return Text(sanitize(str(value)))


def make_console(*, stderr: bool, no_color: bool | None) -> Console:
    """A rich console whose strings are sanitised; markup that does not parse prints as is."""
    from rich.console import Console
    from rich.errors import MarkupError

    class SafeConsole(Console):
        def render_str(self, text: str, **kwargs: Any) -> Text:
            text = sanitize(text)
            try:
                return super().render_str(text, **kwargs)
            except MarkupError:
                return super().render_str(text, **{**kwargs, "markup": False})

    return SafeConsole(stderr=stderr, no_color=no_color, highlight=False, soft_wrap=False)


COLUMNS = ("ok", "changed", "failed", "unreachable", "skipped")
_STYLE = {
    "changed": "yellow",
    "failed": "red",
    "unreachable": "red",
    "skipped": "cyan",
    "ok": "green",
}


@dataclass
class _HostLine:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMNS, 0))
    last_task: str = ""


class LiveProgress:
    """Per-host progress while ansible runs. Plain lines instead when not on a terminal."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = title
        self.hosts: dict[str, _HostLine] = {}
        self.task = ""
        self._live: Live | None = None

    def __enter__(self) -> LiveProgress:
        if self.console.is_terminal:
            from rich.live import Live

            self._live = Live(
                self._render(), console=self.console, refresh_per_second=8, transient=True
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "task_start":
            self.task = event.task or ""
        elif event.kind == "result" and event.host:
            line = self.hosts.setdefault(event.host, _HostLine())
            status = event.status or "ok"
            if status == "changed":
                line.counts["ok"] += 1
            line.counts[status if status in line.counts else "ok"] += 1
            line.last_task = event.task or ""
            if self._live is None and status in ("changed", "failed", "unreachable"):
                self.console.print(
                    f"{status:>11}  {event.host}  {event.task}", markup=False, highlight=False
                )
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> RenderableType:
        from rich.table import Table

        table = Table(title=plain(f"{self.title} — {self.task}"), title_justify="left")
        table.add_column("host")
        for column in COLUMNS:
            table.add_column(column, justify="right")
        table.add_column("last task", overflow="ellipsis", max_width=50)
        for host, line in sorted(self.hosts.items()):
            table.add_row(
                plain(host), *(str(line.counts[c]) for c in COLUMNS), plain(line.last_task)
            )
        return table


def recap_table(title: str, hosts: Mapping[str, Mapping[str, Any]]) -> Table:
    """The end-of-run table: one row per host with ok / changed / failed / unreachable / skipped."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("host")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for host, stats in sorted(hosts.items()):
        cells = []
        for column in COLUMNS:
            value = int(stats.get(column, 0))
            style = _STYLE[column] if value and column != "ok" else ""
            cells.append(f"[{style}]{value}[/{style}]" if style else str(value))
        table.add_row(plain(host), *cells)
    return table
