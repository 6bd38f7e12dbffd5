"""Options shared by several commands, declared once (like molecule's ``click_cfg.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def json_option(help: str = "Print JSON instead of a table.") -> Callable[[F], F]:
    """``--json`` (parameter ``as_json``): machine-readable output on stdout."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def now_option(help: str) -> Callable[[F], F]:
    """``--now`` (parameter ``now``): an ISO 8601 instant with an offset, as aware UTC, or None.
    A documented clock override for rehearsals and tests; a naive or malformed value is bad
    input (exit 3) naming the option."""

    def parse(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
        from mspctl.fleet import parse_now

        return parse_now(value) if value else None

    return click.option(
        "--now",
        metavar="ISO-INSTANT",
        callback=parse,
        help=f"{help}, with an offset (2026-12-05T22:30+01:00) [default: the current time].",
    )


def tier_option(help: str, *, required: bool = False) -> Callable[[F], F]:
    """``--tier``: a tier of the catalogue, by name."""
    return click.option("--tier", required=required, help=help)


limit_option = click.option(
    "--limit", "limit", metavar="PATTERN", help="Ansible host pattern to restrict to."
)
policy_option = click.option(
    "--policy",
    "policies",
    multiple=True,
    metavar="NAME",
    help="Only this policy (repeatable) [default: every policy of the tier].",
)
vault_password_file_option = click.option(
    "--vault-password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MSPCTL_VAULT_PASSWORD_FILE",
    show_envvar=True,
    help="Vault password file [default: $MSPCTL_HOME/vault/<client>.pass if present].",
)
wait_option = click.option(
    "--wait",
    is_flag=True,
    envvar="MSPCTL_WAIT",
    show_envvar=True,
    help="If another run of this client is in progress, wait for it [default: exit 4 (busy)].",
)
lang_option = click.option(
    "--lang",
    type=click.Choice(("en", "it")),  # mspctl.reports.i18n.LANGUAGES
    help="Language of the document [default: the client's language in client.yml].",
)
