"""``mspctl notify``: check that notifications reach the MSP."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mspctl.cli.options import json_option
from mspctl.errors import BadInput

if TYPE_CHECKING:
    from mspctl.app import Application


@click.group()
def notify() -> None:
    """Email and webhook notifications (MSPCTL_SMTP_*, MSPCTL_WEBHOOK_*)."""


@notify.command("test")
@json_option("Print what was sent where as JSON.")
@click.pass_obj
def test(app: Application, as_json: bool) -> None:
    """Send a sample summary to every configured channel and say what went where.

    Settings come from the environment only: MSPCTL_SMTP_HOST, MSPCTL_SMTP_PORT,
    MSPCTL_SMTP_FROM, MSPCTL_SMTP_TO, MSPCTL_SMTP_TLS (starttls|tls|none), MSPCTL_SMTP_USER,
    MSPCTL_SMTP_PASSWORD; MSPCTL_WEBHOOK_URL, MSPCTL_WEBHOOK_FORMAT (json|alertmanager),
    MSPCTL_WEBHOOK_TOKEN; MSPCTL_NOTIFY_TIMEOUT (seconds, default 10).
    """
    from mspctl.notify import Settings, render_json, sample_summary, send

    settings = Settings.from_env()
    if not settings.configured:
        raise BadInput("nothing to send to: set MSPCTL_SMTP_HOST or MSPCTL_WEBHOOK_URL")
    summary = sample_summary()
    deliveries = send(summary, settings)
    if as_json:
        app.print_json({"sent": [d.as_dict() for d in deliveries], "summary": render_json(summary)})
        return
    for delivery in deliveries:
        app.success(f"sent {delivery.channel} to {delivery.target}: {delivery.detail}")
