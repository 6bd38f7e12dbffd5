"""``mspctl incidents``: Alertmanager's alerts as incidents with their first-response SLA."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import click

from mspctl.cli.options import json_option, now_option

if TYPE_CHECKING:
    from mspctl.app import Application
    from mspctl.notify import PsaSettings
    from mspctl.store.models import Incident


@click.group()
def incidents() -> None:
    """Incidents: each alert Alertmanager sends to ``mspctl incidents serve``, with the deadline
    of its first response in the client's support hours (public holidays and DST included)."""


@incidents.command()
@click.option(
    "--listen",
    envvar="MSPCTL_INCIDENTS_LISTEN",
    show_envvar=True,
    default="127.0.0.1:9095",
    show_default=True,
    metavar="HOST:PORT",
    help="Address Alertmanager's webhook posts to (path /alerts).",
)
@click.pass_obj
def serve(app: Application, listen: str) -> None:
    """Receive Alertmanager's webhook and record incidents until stopped (SIGTERM, Ctrl-C).
    With MSPCTL_PSA_URL and MSPCTL_PSA_SECRET set, each incident opened, acknowledged or
    resolved is also posted, signed, to the PSA."""
    import logging
    import signal

    from mspctl.errors import BadInput
    from mspctl.incidents.receiver import IncidentReceiver
    from mspctl.incidents.service import publisher
    from mspctl.incidents.sla import Clocks
    from mspctl.notify import PsaHooks, PsaSettings

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInput(f"expected HOST:PORT, not {listen!r}", key="--listen")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    psa = PsaSettings.from_env()
    workspace = app.workspace
    clocks = Clocks(workspace)
    app.info(f"{clocks.warm()} client(s) and their support hours loaded")
    hooks = PsaHooks(psa).start() if psa else None
    try:
        server = IncidentReceiver(
            (host.strip("[]"), int(port)),
            workspace.store,
            clocks,
            on_events=publisher(hooks) if hooks else None,
        )
    except OSError as exc:
        if hooks:
            hooks.stop()
        raise BadInput(f"cannot listen on {listen}: {exc.strerror}", key="--listen") from None

    def terminate(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    app.info(f"receiving Alertmanager's alerts on {server.url}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if hooks:
            hooks.stop()
    app.info("stopped")


@incidents.command("list")
@click.argument("client", required=False)
@click.option("--open", "open_only", is_flag=True, help="Only the incidents not resolved.")
@click.option(
    "--breaching",
    is_flag=True,
    help="Only the unanswered incidents past their deadline or due within --within.",
)
@click.option(
    "--within",
    default=30,
    show_default=True,
    type=click.IntRange(0, 7 * 24 * 60),
    metavar="MINUTES",
    help="With --breaching: how soon a deadline counts as about to breach.",
)
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100_000))
@now_option("The instant SLA results are computed at")
@json_option("Print JSON (for billing and PSA tools) instead of a table.")
@click.pass_obj
def list_(
    app: Application,
    client: str | None,
    open_only: bool,
    breaching: bool,
    within: int,
    limit: int,
    now: dt.datetime | None,
    as_json: bool,
) -> None:
    """Incidents newest first (or, with --breaching, soonest deadline first), optionally of one
    CLIENT, with their SLA result: met, breached or pending, and business minutes used."""
    from mspctl.incidents.service import breaching as breaching_
    from mspctl.incidents.service import incident_as_dict
    from mspctl.store.queries import incidents as query

    now = now or dt.datetime.now(dt.UTC)
    rows = query(
        app.workspace.store,
        client,
        open_only=open_only or breaching,
        limit=None if breaching else limit,
    )
    if breaching:
        rows = breaching_(rows, now, dt.timedelta(minutes=within))[:limit]
    if as_json:
        app.print_json([incident_as_dict(i, now) for i in rows])
        return
    if not rows:
        app.info("no incidents")
        return
    from rich.table import Table

    table = Table("id", "client", "host", "alert", "severity", "status", "due (UTC)", "SLA", "used")
    for i in rows:
        data = incident_as_dict(i, now)
        sla = data["sla"]
        table.add_row(
            str(i.id),
            i.client,
            i.host,
            i.alertname,
            i.severity,
            i.status,
            f"{i.due_at:%Y-%m-%d %H:%M}",
            sla["state"],
            f"{sla['business_minutes_used']:g}/{i.sla_minutes} min",
        )
    app.out.print(table, markup=False)


@incidents.command()
@click.argument("incident_id", type=int)
@now_option("The instant the SLA result is computed at")
@json_option()
@click.pass_obj
def show(app: Application, incident_id: int, now: dt.datetime | None, as_json: bool) -> None:
    """One incident: its alert, deadline, first response and SLA result."""
    from mspctl.incidents.service import incident_as_dict
    from mspctl.store.queries import find_incident

    now = now or dt.datetime.now(dt.UTC)
    data = incident_as_dict(find_incident(app.workspace.store, incident_id), now)
    if as_json:
        app.print_json(data)
        return
    sla = data.pop("sla")
    labels = data.pop("labels")
    for key, value in data.items():
        if value is not None:
            app.out.print(f"{key}: {value}", markup=False, highlight=False)
    app.out.print(
        f"sla: {sla['state']}, due {sla['due_at']} ({sla['minutes']} business min, "
        f"{sla['business_minutes_used']:g} used), support {sla['calendar']}",
        markup=False,
        highlight=False,
    )
    app.out.print(f"labels: {labels}", markup=False, highlight=False)


@incidents.command()
@click.argument("incident_id", type=int)
@click.option("--by", metavar="NAME", help="Who responds [default: the current user].")
@click.option("--note", help="What was done or said.")
@now_option("When the response was given")
@json_option()
@click.pass_obj
def ack(
    app: Application,
    incident_id: int,
    by: str | None,
    note: str | None,
    now: dt.datetime | None,
    as_json: bool,
) -> None:
    """Record the first response to INCIDENT_ID (who and when). Unknown, already acknowledged
    or resolved: exit 3, nothing recorded."""
    from mspctl.incidents.service import current_user
    from mspctl.notify import PsaSettings

    psa = PsaSettings.from_env()  # a bad setting is exit 3 before anything is recorded
    row = app.workspace.store.ack_incident(
        incident_id, (by or "").strip() or current_user(), now or dt.datetime.now(dt.UTC), note
    )
    _done(app, row, "acked", psa, as_json)


@incidents.command()
@click.argument("incident_id", type=int)
@click.option("--by", metavar="NAME", help="Who resolves [default: the current user].")
@now_option("When it was resolved")
@json_option()
@click.pass_obj
def resolve(
    app: Application, incident_id: int, by: str | None, now: dt.datetime | None, as_json: bool
) -> None:
    """Close INCIDENT_ID by hand (Alertmanager's resolution closes it too). Unknown or already
    resolved: exit 3, nothing recorded."""
    from mspctl.incidents.service import current_user
    from mspctl.notify import PsaSettings

    psa = PsaSettings.from_env()  # a bad setting is exit 3 before anything is recorded
    row = app.workspace.store.resolve_incident(
        incident_id, (by or "").strip() or current_user(), now or dt.datetime.now(dt.UTC)
    )
    _done(app, row, "resolved", psa, as_json)


def _done(
    app: Application, row: Incident, action: str, psa: PsaSettings | None, as_json: bool
) -> None:
    """Tell the PSA (if configured; a failure is a warning, the store already has it) and
    show the incident."""
    from mspctl.incidents.service import PSA_EVENTS, incident_as_dict
    from mspctl.notify import PsaHooks

    now = dt.datetime.now(dt.UTC)
    data = incident_as_dict(row, now)
    if psa is not None:
        hooks = PsaHooks(psa).start()
        hooks.submit(PSA_EVENTS[action], data)
        hooks.join(psa.timeout + 1)
        hooks.stop()
        if not hooks.delivered:
            app.warn(f"the PSA hook {psa.server} was not told (it will not be retried)")
    if as_json:
        app.print_json(data)
        return
    sla = data["sla"]
    app.success(
        f"{action} {row.id}: {row.client} {row.host} {row.alertname} — SLA {sla['state']} "
        f"({sla['business_minutes_used']:g} of {row.sla_minutes} business minutes)"
    )
