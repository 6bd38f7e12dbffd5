"""``mspctl runs``: browse the run store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from mspctl.cli.options import json_option

if TYPE_CHECKING:
    from mspctl.app import Application


@click.group()
def runs() -> None:
    """Recorded runs: who applied what, when, and with which result."""


@runs.command("list")
@click.argument("client", required=False)
@click.option(
    "-n",
    "--last",
    "limit",
    type=click.IntRange(1, 10000),
    default=20,
    show_default=True,
    help="How many runs.",
)
@json_option()
@click.pass_obj
def list_(app: Application, client: str | None, limit: int, as_json: bool) -> None:
    """List recent runs, newest first, optionally of one CLIENT."""
    from mspctl.store import run_as_dict
    from mspctl.store.queries import recent_runs

    rows = [run_as_dict(r, tasks=False) for r in recent_runs(app.workspace.store, client, limit)]
    if as_json:
        app.print_json(rows)
        return
    from rich.table import Table

    table = Table(
        "run",
        "client",
        "tier",
        "mode",
        "status",
        "started",
        "user",
        "hosts",
        "changed",
        "failed",
        title="Runs",
    )
    for row in rows:
        stats = row["hosts"].values()
        failed = sum(s["failed"] + s["unreachable"] for s in stats)
        tier = row["tier"] + ("*" if row["tier_source"] == "override" else "")
        table.add_row(
            row["id"],
            row["client"],
            tier,
            row["mode"],
            row["status"],
            row["started_at"][:19].replace("T", " "),
            row["user"],
            str(len(row["hosts"])),
            str(sum(s["changed"] for s in stats)),
            str(failed),
        )
    app.out.print(table)
    if any(r["tier_source"] == "override" for r in rows):
        app.info("* tier differs from the client's effective tier")


@runs.command()
@click.argument("run_id")
@click.option(
    "--timings",
    is_flag=True,
    help="Where the time went: hosts, roles and the slowest tasks, from the recorded events.",
)
@click.option(
    "--top",
    type=click.IntRange(1, 1000),
    default=15,
    show_default=True,
    help="With --timings: how many of the slowest tasks.",
)
@json_option()
@click.pass_obj
def show(app: Application, run_id: str, timings: bool, top: int, as_json: bool) -> None:
    """Show one run (a unique prefix of the id is enough): recap and task results."""
    from mspctl.display import recap_table
    from mspctl.store import run_as_dict
    from mspctl.store.queries import find_run

    data = run_as_dict(find_run(app.workspace.store, run_id))
    if timings:
        _show_timings(app, data, top, as_json)
        return
    if as_json:
        app.print_json(data)
        return
    from rich.table import Table

    app.out.print(
        f"[bold]run {data['id']}[/bold]: {data['mode']} of tier {data['tier']} "
        f"({data['tier_source']}) on {data['client']} by {data['user']} — {data['status']}"
    )
    app.out.print(
        f"started {data['started_at']}, ended {data['ended_at'] or '-'}; "
        f"artifacts: {data['artifacts_dir']}",
        markup=False,
    )
    if data.get("node"):  # streamed to a site's execution node (docs/nodes.md)
        app.out.print(f"execution node: {data['node']}", markup=False)
    if data.get("status_reason"):  # why a run was aborted or recorded late (reconcile)
        app.out.print(f"why {data['status']}: {data['status_reason']}", markup=False)
    app.out.print(recap_table("hosts", data["hosts"]))
    interesting = [t for t in data["tasks"] if t["status"] in ("changed", "failed", "unreachable")]
    if interesting:
        table = Table("host", "policy", "task", "status", "details", title="Changes and failures")
        for t in interesting:
            table.add_row(
                t["host"],
                t["policy"] or "-",
                t["task"],
                t["status"],
                t["diff_summary"] or t["message"] or "",
            )
        app.out.print(table)


def _show_timings(app: Application, data: dict[str, Any], top: int, as_json: bool) -> None:
    from pathlib import Path

    from mspctl.timings import read_timings

    found = read_timings(Path(data["artifacts_dir"]))
    if as_json:
        app.print_json({"run_id": data["id"], **found.as_dict(top)})
        return
    from rich.table import Table

    app.out.print(
        f"[bold]run {data['id']}[/bold] on {data['client']}: {found.wall:.1f} s from the first "
        f"task to the last, {len(found.tasks)} task results"
    )
    hosts = Table("host", "tasks", "task seconds", "wall seconds", title="Hosts, slowest first")
    for host in found.hosts:
        hosts.add_row(host.host, str(host.tasks), f"{host.seconds:.1f}", f"{host.wall:.1f}")
    app.out.print(hosts)
    roles = Table("role", "task seconds (all hosts)", title="Roles")
    for role, seconds in found.roles.items():
        roles.add_row(role, f"{seconds:.1f}")
    app.out.print(roles)
    slow = Table("seconds", "host", "role", "task", "status", title=f"The {top} slowest tasks")
    for task in found.tasks[:top]:
        slow.add_row(f"{task.seconds:.2f}", task.host, task.role or "-", task.task, task.status)
    app.out.print(slow)


@runs.command()
@click.argument("client", required=False)
@json_option()
@click.pass_obj
def missed(app: Application, client: str | None, as_json: bool) -> None:
    """Patch windows missed by hosts that were unreachable (mspctl run-due), oldest first, and
    the runs that caught them up; optionally of one CLIENT."""
    from mspctl.store.queries import patch_events

    events = patch_events(app.workspace.store, client)
    caught = {e.missed_id: e for e in events if e.kind == "caught_up"}
    rows = [
        {
            "id": e.id,
            "client": e.client,
            "host": e.host,
            "host_class": e.host_class,
            "missed_at": e.at.isoformat(),
            "run_id": e.run_id,
            "failure": e.failure,
            "detail": e.detail,
            "caught_up_at": caught[e.id].at.isoformat() if e.id in caught else None,
            "caught_up_run": caught[e.id].run_id if e.id in caught else None,
            "caught_up_how": caught[e.id].detail if e.id in caught else None,
        }
        for e in events
        if e.kind == "missed"
    ]
    if as_json:
        app.print_json(rows)
        return
    from rich.table import Table

    table = Table(
        "client",
        "host",
        "class",
        "missed",
        "counted",
        "caught up",
        "by run",
        title="Missed patch windows",
    )
    for event in (e for e in events if e.kind == "missed"):
        fix = caught.get(event.id)
        table.add_row(
            event.client,
            event.host,
            event.host_class or "-",
            f"{event.at:%Y-%m-%d %H:%M}",
            "failure" if event.failure else "missed",
            f"{fix.at:%Y-%m-%d %H:%M}" if fix else "open",
            (fix.run_id if fix else None) or "-",
        )
    app.out.print(table)
