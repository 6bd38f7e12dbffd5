"""``mspctl tiers``: browse and compare the tier catalogue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from mspctl.cli.options import json_option

if TYPE_CHECKING:
    from mspctl.app import Application


@click.group()
def tiers() -> None:
    """Browse and compare the tier catalogue (tiers/*.yml)."""


@tiers.command("list")
@json_option()
@click.pass_obj
def list_(app: Application, as_json: bool) -> None:
    """List tiers with their parent and enabled policies."""
    resolved = app.workspace.catalogue.all()
    rows: list[dict[str, Any]] = [
        {
            "name": r.name,
            "extends": r.tier.extends,
            "title": r.tier.title,
            "policies": sorted(r.tier.enabled_policies),
            "first_response_hours": r.tier.contract.first_response_hours.model_dump(
                exclude_none=True
            ),
        }
        for r in resolved
    ]
    if as_json:
        app.print_json(rows)
        return
    from rich.table import Table

    from mspctl.display import plain

    table = Table("tier", "extends", "first response", "policies", title="Tier catalogue")
    for r in resolved:
        hours = r.tier.contract.first_response_hours.model_dump(exclude_none=True)
        sla = ", ".join(f"{k} {v:g} h" for k, v in hours.items())
        policies = ", ".join(sorted(r.tier.enabled_policies))
        table.add_row(*map(plain, (r.name, r.tier.extends or "-", sla, policies)))
    app.out.print(table)


@tiers.command()
@click.argument("tier")
@json_option()
@click.pass_obj
def show(app: Application, tier: str, as_json: bool) -> None:
    """Show a tier fully resolved (inheritance applied)."""
    from mspctl.policies import POLICIES

    resolved = app.workspace.catalogue.get(tier)
    data = resolved.as_dict()
    # which of the tier's policies have a Windows path (docs/windows.md)
    windows = {
        name: POLICIES[name].windows
        for name in sorted(resolved.tier.enabled_policies)
        if not POLICIES[name].devices
    }
    data["windows"] = windows
    # which baseline controls apply to Windows hosts: the tier's windows_controls; its Linux
    # controls do not (docs/windows.md)
    baseline = (data.get("policies") or {}).get("baseline") or {}
    controls = None
    if "baseline" in windows:
        controls = {
            "windows": [c.get("id") for c in baseline.get("windows_controls") or []],
            "linux_only": [
                c.get("id")
                for key in ("controls", "tier_controls")
                for c in baseline.get(key) or []
            ],
        }
        data["baseline_controls"] = controls
    if as_json:
        app.print_json(data)
        return
    import yaml
    from rich.markup import escape

    app.out.print(
        f"[bold]{escape(resolved.tier.title)}[/bold]  (inherits: "
        f"{escape(' -> '.join(resolved.chain))})"
    )
    app.out.print(resolved.tier.summary, markup=False)
    app.out.print(
        yaml.safe_dump(
            {k: data[k] for k in ("contract", "reporting", "policies")}, sort_keys=False
        ),
        markup=False,
    )
    supported = [name for name, ok in windows.items() if ok]
    missing = [name for name, ok in windows.items() if not ok]
    app.out.print(
        f"Windows hosts: {', '.join(supported) or 'none'}"
        + (f"; not yet: {', '.join(missing)} (no_<policy> leaves them out)" if missing else ""),
        markup=False,
    )
    if controls is not None:
        app.out.print(
            f"Baseline on Windows: {', '.join(controls['windows']) or 'none'}; Linux only: "
            f"{', '.join(controls['linux_only']) or 'none'}",
            markup=False,
        )


@tiers.command()
@click.argument("tier_a")
@click.argument("tier_b")
@json_option()
@click.pass_obj
def diff(app: Application, tier_a: str, tier_b: str, as_json: bool) -> None:
    """What a client gains or loses moving from TIER_A to TIER_B."""
    from mspctl.catalogue import diff_tiers, setting_text

    changes = diff_tiers(app.workspace.catalogue.get(tier_a), app.workspace.catalogue.get(tier_b))
    if as_json:
        app.print_json({"from": tier_a, "to": tier_b, "changes": changes})
        return
    if not changes:
        app.info(f"{tier_a} and {tier_b} are identical")
        return
    from rich.markup import escape
    from rich.table import Table

    from mspctl.display import plain

    table = Table(
        "",
        "setting",
        escape(tier_a),
        escape(tier_b),
        title=plain(f"Moving from {tier_a} to {tier_b}"),
    )
    marks = {"gained": "[green]+[/green]", "lost": "[red]-[/red]", "changed": "[yellow]~[/yellow]"}
    for change in changes:
        table.add_row(
            marks[change["kind"]],
            plain(change["key"]),
            plain(setting_text(change["from"])),
            plain(setting_text(change["to"])),
        )
    app.out.print(table)
