"""``mspctl maintenance``: book, list and cancel one-off maintenance windows of a client."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import click

from mspctl.cli.options import json_option

if TYPE_CHECKING:
    from mspctl.app import Application
    from mspctl.maintenance import Booking


@click.group()
def maintenance() -> None:
    """Booked maintenance: one-off windows in the client's time zone, during which monitoring
    silences the client's alerts."""


@maintenance.command()
@click.argument("client")
@click.option(
    "--start",
    required=True,
    metavar="'YYYY-MM-DD HH:MM'",
    help="Local start (client.yml timezone).",
)
@click.option("--duration", required=True, help="15m .. 24h: '90m', '3h', '1h30m'.")
@click.option("--reason", required=True, help="What the maintenance is for.")
@click.option(
    "--hosts",
    default="all",
    show_default=True,
    metavar="PATTERN",
    help="Hosts concerned (recorded; alerts are silenced on every host of the client).",
)
@click.option("--by", "booked_by", metavar="NAME", help="Who books [default: the current user].")
@json_option()
@click.pass_obj
def book(
    app: Application,
    client: str,
    start: str,
    duration: str,
    reason: str,
    hosts: str,
    booked_by: str | None,
    as_json: bool,
) -> None:
    """Book a maintenance window for CLIENT."""
    from mspctl.maintenance import BookingRequest
    from mspctl.maintenance import book as book_

    request = BookingRequest(client, start, duration, reason, hosts, booked_by)
    booking = book_(app.workspace, request, dt.datetime.now(dt.UTC))
    if as_json:
        app.print_json(booking.as_dict())
        return
    app.success(f"booked {booking.id}: {client} {_span(booking)} — {booking.reason}")


@maintenance.command("list")
@click.argument("client", required=False)
@click.option("--all", "everything", is_flag=True, help="Also past and cancelled bookings.")
@json_option()
@click.pass_obj
def list_(app: Application, client: str | None, everything: bool, as_json: bool) -> None:
    """Current and upcoming bookings, optionally of one CLIENT, in each client's local time."""
    from mspctl.maintenance import listed

    rows = listed(app.workspace.store, client, dt.datetime.now(dt.UTC), everything=everything)
    if as_json:
        app.print_json([b.as_dict() for b in rows])
        return
    if not rows:
        app.info("no bookings")
        return
    from rich.table import Table

    table = Table("id", "client", "when (local)", "hosts", "reason", "by", title="Maintenance")
    if everything:
        table.add_column("cancelled")
    for b in rows:
        cells = [str(b.id), b.client, _span(b), b.hosts, b.reason, b.booked_by]
        if everything:
            cells.append(f"{b.cancelled_at:%Y-%m-%d %H:%M} UTC" if b.cancelled_at else "")
        table.add_row(*cells)
    app.out.print(table, markup=False)


@maintenance.command()
@click.argument("booking_id", type=int)
@json_option()
@click.pass_obj
def cancel(app: Application, booking_id: int, as_json: bool) -> None:
    """Cancel booking BOOKING_ID (it stays in the store, marked cancelled)."""
    from mspctl.maintenance import cancel as cancel_

    booking = cancel_(app.workspace, booking_id, dt.datetime.now(dt.UTC))
    if as_json:
        app.print_json(booking.as_dict())
        return
    app.success(f"cancelled {booking.id}: {booking.client} {_span(booking)}")


def _span(booking: Booking) -> str:
    """Local start and end with their zone abbreviations (they differ across a DST change)."""
    start, end = booking.local(booking.start_utc), booking.local(booking.end_utc)
    end_text = f"{end:%H:%M %Z}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M %Z}"
    return f"{start:%Y-%m-%d %H:%M %Z} to {end_text} ({booking.timezone})"
