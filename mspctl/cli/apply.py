"""``mspctl apply``: bring a client's hosts to its tier's policies."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mspctl.cli.options import (
    json_option,
    limit_option,
    now_option,
    policy_option,
    tier_option,
    vault_password_file_option,
    wait_option,
)
from mspctl.errors import EXIT_CODES_HELP

if TYPE_CHECKING:
    from mspctl.app import Application

ENGINES = ("mitogen", "tuned", "stock")


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("client")
@tier_option("Tier to apply [default: the client's effective tier].")
@click.option("--check", is_flag=True, help="Change nothing; report what would change (drift).")
@click.option("--diff", is_flag=True, help="Show the differences of changed files and settings.")
@limit_option
@policy_option
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="mitogen",
    show_default=True,
    envvar="MSPCTL_ENGINE",
    show_envvar=True,
    help="mitogen (fastest), tuned (SSH pipelining), stock (ansible defaults).",
)
@click.option(
    "--forks",
    type=click.IntRange(1, 200),
    default=10,
    show_default=True,
    envvar="MSPCTL_FORKS",
    show_envvar=True,
    help="Hosts handled in parallel.",
)
@vault_password_file_option
@click.option(
    "--force-window",
    is_flag=True,
    help="Patch now even outside the patch window (onboarding, urgent fixes).",
)
@click.option(
    "--catch-up",
    "catch_up",
    metavar="HOST[,HOST]",
    help="Patch these hosts now, outside their window, because they missed it (mspctl run-due "
    "sets it); their reboots still wait for a reboot window.",
)
@now_option("Evaluate patch windows and bookings at this instant instead of now")
@json_option("Print a machine-readable summary.")
@wait_option
@click.pass_obj
def apply(
    app: Application,
    client: str,
    tier: str | None,
    check: bool,
    diff: bool,
    limit: str | None,
    policies: tuple[str, ...],
    engine: str,
    forks: int,
    vault_password_file: Path | None,
    force_window: bool,
    catch_up: str | None,
    now: dt.datetime | None,
    as_json: bool,
    wait: bool,
) -> int:
    """Apply CLIENT's tier policies to its hosts, live, and record the run."""
    from mspctl import engine as jobs
    from mspctl.display import LiveProgress, recap_table
    from mspctl.runner import Engine

    request = jobs.ApplyRequest(
        client=client,
        tier=tier,
        check=check,
        diff=diff,
        limit=limit,
        policies=policies,
        engine=Engine(engine),
        forks=forks,
        vault_password_file=vault_password_file,
        force_window=force_window,
        wait=wait,
        now=now,
        catch_up=tuple(h.strip() for h in (catch_up or "").split(",") if h.strip()),
    )
    planned = jobs.plan(app.workspace, request)
    for warning in planned.warnings:
        app.warn(warning)
    verb = "checking" if check else "applying"
    title = f"{verb} {planned.tier.name} on {client}"
    if as_json or app.quiet:
        outcome = jobs.execute(app.workspace, planned, on_wait=app.info, on_notice=app.warn)
    else:
        app.info(f"{title}: policies {', '.join(planned.policies) or 'none'}")
        if planned.retire:
            app.info(f"retire paths: {', '.join(planned.retire)} (hosts outside their scope)")
        with LiveProgress(app.err, title) as progress:
            outcome = jobs.execute(
                app.workspace, planned, on_progress=progress, on_wait=app.info, on_notice=app.warn
            )
    result = outcome.result
    if result.survivors:  # stuck in the kernel even after SIGKILL: tell, never hide
        app.warn(f"processes of run {outcome.run_id} outlived SIGKILL: {result.survivors}")
    hosts = {h: s.as_dict() for h, s in result.hosts.items()}
    if as_json:
        app.print_json(
            {
                "run_id": outcome.run_id,
                "client": client,
                "tier": planned.tier.name,
                "tier_source": planned.tier_source,
                "mode": planned.mode,
                "status": result.status,
                "exit_code": int(outcome.exit_code),
                "policies": planned.policies,
                "retire": planned.retire,  # policy -> hosts its retire path ran on (mspctl.retire)
                "changed": result.changed,
                "hosts": hosts,
            }
        )
    else:
        app.out.print(recap_table(f"run {outcome.run_id} — {result.status}", hosts))
        if result.failed_hosts:
            from mspctl.results import unreachable_reasons

            reasons = unreachable_reasons(result)
            app.error(
                "failed or unreachable: "
                + ", ".join(
                    f"{h} (unreachable: {reasons[h]})" if h in reasons else h
                    for h in result.failed_hosts
                )
            )
        elif check and result.changed:
            app.warn(
                f"drift: {result.changed} change(s) pending; see mspctl runs show {outcome.run_id}"
            )
        app.info(f"run id: {outcome.run_id}")
    return int(outcome.exit_code)
