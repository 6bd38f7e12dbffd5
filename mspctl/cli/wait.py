"""``--wait``: the one definition of the run-lock option, shared by ``apply`` and ``drift``."""

from __future__ import annotations

import click

wait_option = click.option(
    "--wait", is_flag=True, envvar="MSPCTL_WAIT", show_envvar=True,
    help="If another run of this client is in progress, wait for it [default: exit 4 (busy)].",
)
