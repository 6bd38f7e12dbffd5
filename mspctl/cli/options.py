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
