"""``mspctl run-due``: the nightly fleet run — what is due now, for every client, in parallel."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mspctl.cli.options import json_option, now_option
from mspctl.errors import EXIT_CODES_HELP

if TYPE_CHECKING:
    from mspctl.app import Application
    from mspctl.fleet import ClientResult
    from mspctl.notify import Summary

RUN_DUE_EXIT_CODES = (
    "Exit codes (fleet): 0 every client ok or nothing due; 1 a client failed, was unreachable or "
    "busy; 2 drift, pending changes or failing controls (or --check found changes); 3 a client "
    "had bad input (the others still ran); 130 interrupted (every running client recorded as "
    "aborted). " + EXIT_CODES_HELP
)


@click.command(epilog=RUN_DUE_EXIT_CODES)
@click.option(
    "--client",
    "clients",
    multiple=True,
    metavar="NAME",
    help="Only this client (repeatable) [default: every client].",
)
@now_option("Evaluate the windows and bookings at this instant (rehearsals, tests)")
@click.option(
    "--duties",
    default="patching,drift",
    show_default=True,
    metavar="LIST",
    help="Nightly duties to run: patching (hosts in an open patch window), drift (a check of "
    "the tier).",
)
@click.option("--check", is_flag=True, help="Run patching in check mode (change nothing).")
@click.option(
    "--parallel",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    envvar="MSPCTL_PARALLEL",
    show_envvar=True,
    help="Clients run at the same time.",
)
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a JUnit XML report (a testsuite per client, a testcase per host and duty).",
)
@json_option("Print a machine-readable summary per client.")
@click.pass_obj
def run_due(
    app: Application,
    clients: tuple[str, ...],
    now: dt.datetime | None,
    duties: str,
    check: bool,
    parallel: int,
    junit_file: Path | None,
    as_json: bool,
) -> int:
    """Run what is due now for every client: patching of the hosts whose patch window is open,
    and the drift check. Clients run in parallel, each under its run lock; one client's
    failure, busy lock or bad input never stops the others."""
    from mspctl import fleet, notify
    from mspctl.reports import check_output, write_output

    # every input is checked before anything runs: bad input changes nothing
    started = dt.datetime.now(dt.UTC)
    instant = now or started
    chosen = fleet.parse_duties(duties)
    settings = notify.Settings.from_env()
    if junit_file is not None:
        check_output(junit_file)
    plans = fleet.plan_fleet(app.workspace, instant, clients=clients, duties=chosen)

    def summary(result: ClientResult) -> None:
        line = f"{result.plan.client}: {result.status} — {result.describe()}"
        if result.status in (fleet.OK, fleet.IDLE):
            app.err.print(line, markup=False)  # a result, shown even with --quiet
        elif result.status == fleet.CHANGES:
            app.warn(line)
        else:
            app.error(line)

    results, interrupted = fleet.run_fleet(
        app.workspace, plans, parallel=parallel, check=check, on_done=summary
    )
    code = fleet.aggregate([r.exit_code for r in results] + ([130] if interrupted else []))
    if junit_file is not None:
        write_output(junit_file, fleet.render_junit(results, instant))
    summary_sent = fleet.notification(results, started, dt.datetime.now(dt.UTC), code)
    summary_sent = _with_trials(app, summary_sent, now)  # trials ending soon (mspctl.trials)
    for delivery in notify.send(summary_sent, settings):  # nothing configured: nothing sent
        app.info(f"summary sent: {delivery.channel} {delivery.target}")
    if as_json:
        app.print_json(
            {
                "now": instant.isoformat(),
                "duties": list(chosen),
                "check": check,
                "exit_code": code,
                "clients": [r.as_dict() for r in results],
            }
        )
    return code


def _with_trials(app: Application, summary: Summary, now: dt.datetime | None) -> Summary:
    """The summary with the trials that end soon and what each client loses then."""
    import dataclasses

    from mspctl.trials import notices

    return dataclasses.replace(summary, trials=notices(app.workspace, now.date() if now else None))
