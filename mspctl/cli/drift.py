"""``mspctl drift``: run the client's tier in check + diff mode and show what moved."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mspctl.cli.options import (
    json_option,
    limit_option,
    policy_option,
    tier_option,
    vault_password_file_option,
    wait_option,
)
from mspctl.errors import EXIT_CODES_HELP

if TYPE_CHECKING:
    from mspctl.app import Application
    from mspctl.drift import DriftReport


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("client")
@tier_option("Tier to check against [default: the client's effective tier].")
@limit_option
@policy_option
@vault_password_file_option
@json_option("Print the findings as JSON.")
@wait_option
@click.pass_obj
def drift(
    app: Application,
    client: str,
    tier: str | None,
    limit: str | None,
    policies: tuple[str, ...],
    vault_password_file: Path | None,
    as_json: bool,
    wait: bool,
) -> int:
    """Show, per host and policy, what would change (drift vs pending intentional change),
    with diffs (secrets masked), and failing controls. Exit 2 when anything is found."""
    from mspctl import engine
    from mspctl.display import LiveProgress
    from mspctl.drift import check

    workspace = app.workspace
    request = engine.ApplyRequest(
        client=client,
        tier=tier,
        check=True,
        diff=True,
        limit=limit,
        policies=policies,
        vault_password_file=vault_password_file,
        wait=wait,
    )
    planned = engine.plan(workspace, request)
    for warning in planned.warnings:
        app.warn(warning)
    if as_json or app.quiet:
        report = check(workspace, planned, on_wait=app.info, on_notice=app.warn)
    else:
        with LiveProgress(app.err, f"checking {planned.tier.name} on {client}") as progress:
            report = check(
                workspace, planned, on_progress=progress, on_wait=app.info, on_notice=app.warn
            )
    if as_json:
        app.print_json(report.as_dict())
        return int(report.exit_code)
    _render(app, report)
    return int(report.exit_code)


def _render(app: Application, report: DriftReport) -> None:
    from rich.table import Table

    if report.failed_hosts:
        app.error(f"failed or unreachable: {', '.join(report.failed_hosts)}")
    if not report.changes and not report.failing:
        app.success(f"{report.client}: no drift, no failing control (run {report.run_id})")
        return
    table = Table("host", "policy", "kind", "what", title=f"Drift of {report.client}")
    for c in report.changes:
        table.add_row(c["host"], c["policy"] or "-", c["kind"], c["task"])
    for f in report.failing:
        kind = "failing control" + (" (waiver expired)" if f["waiver_expired"] else "")
        table.add_row(
            f["host"],
            f["policy"],
            kind,
            f"{f['control_id']}: expected {f['expected']}, got {f['actual']}",
        )
    app.out.print(table)
    for c in report.changes:
        if c["diff"]:
            app.out.print(f"[bold]--- {c['host']} · {c['policy']} · {c['task']}[/bold]")
            app.out.print(c["diff"], markup=False, highlight=False)
    app.info(f"run id: {report.run_id}")
