"""Compliance reports of one run: the data (a versioned JSON document) and its renderings.

``build`` assembles the data from the store; each format module renders it:
``json`` (schema: ``schema/report-v1.json``), ``html`` (one self-contained file), ``md``,
``junit`` (one testcase per host x control) and ``sarif`` (SARIF 2.1.0).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mspctl import __version__
from mspctl.errors import BadInput

if TYPE_CHECKING:
    from mspctl.workspace import Workspace

FORMATS = ("json", "html", "md", "junit", "sarif")
SCHEMA = Path(__file__).parent / "schema" / "report-v1.json"


def build(workspace: Workspace, slug: str, run_ref: str | None) -> dict[str, Any]:
    """The report of a client's run (default: the newest), with the contract of its tier."""
    from mspctl.compliance import (
        REPORT_FORMAT_VERSION,
        drift_of,
        grouped_scores,
        results_at,
        score,
    )
    from mspctl.store import run_as_dict
    from mspctl.store.queries import assets_at, resolve_run

    # the inventory is read only if a waiver names a host class (the report reads the store)
    client = workspace.clients.get(slug, inventory=False)
    waivers = workspace.waivers(client)
    catalogue = workspace.catalogue
    with workspace.store.reader() as db:
        run = resolve_run(db, client.slug, run_ref)
        results = results_at(db, run, waivers)
        drift = drift_of(db, run)
        run_data = run_as_dict(run, tasks=False)
        assets = assets_at(db, client.slug, run.seq)
    on = run.started_at.date()
    failing = [r.as_dict() for r in results if r.status in ("fail", "error")]
    waived = [r.as_dict() for r in results if r.status == "waived"]
    return {
        "format_version": REPORT_FORMAT_VERSION,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "generator": f"mspctl {__version__}",
        "client": {
            "id": client.slug,
            "name": client.data.name,
            "timezone": client.data.timezone,
            "contract_tier": client.data.contract.tier,
        },
        "run": {
            k: run_data[k]
            for k in (
                "id",
                "seq",
                "mode",
                "status",
                "tier",
                "tier_source",
                "user",
                "started_at",
                "ended_at",
                "full",
                "hosts",
            )
        },
        "contract": (
            catalogue.get(run.tier).tier.contract.model_dump(mode="json", exclude_none=True)
            if run.tier in catalogue.names
            else None
        ),
        "summary": score(results),
        "policies": grouped_scores(results, "policy"),
        "hosts": grouped_scores(results, "host"),
        "failing": failing,
        "waived": waived,
        "drift": drift,
        "waivers_expired": [w.as_dict() for w in waivers.expired(on)],
        "controls": [r.as_dict() for r in results],
        **_network_devices(workspace, client.slug, assets, run.started_at),
    }


def _network_devices(
    workspace: Workspace, client: str, assets: dict[str, dict[str, Any]], at: dt.datetime
) -> dict[str, Any]:
    """``network_devices`` of the report: the network policy's asset records with the device's
    configuration version stored by then; nothing when the client has no network device."""
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    rows = []
    for host, record in sorted(assets.items()):
        if record.get("class") != "network":
            continue
        try:
            version: str | None = workspace.netconfigs.resolve(client, host, None, at=at).short
        except BadInput:
            version = None
        rows.append(
            {
                "host": host,
                "model": record.get("model"),
                "serial": record.get("serial"),
                "os_version": (record.get("os") or {}).get("version"),
                "uptime": record.get("uptime"),
                "config_version": version,
            }
        )
    return {"network_devices": rows} if rows else {}


def render(data: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    if fmt == "md":
        from mspctl.reports.markdown import render_markdown

        return render_markdown(data)
    if fmt == "html":
        from mspctl.reports.html import render_html

        return render_html(data)
    if fmt == "junit":
        from mspctl.reports.junit import render_junit

        return render_junit(data)
    if fmt == "sarif":
        from mspctl.reports.sarif import render_sarif

        return render_sarif(data)
    raise ValueError(fmt)


def check_output(output: Path) -> None:
    """A report target mspctl can write: checked before a long run, so a wrong path is bad input
    that changes nothing."""
    if output.is_dir():
        raise BadInput("cannot write the report: is a directory", file=output)
    if not output.parent.is_dir():
        raise BadInput("cannot write the report: directory not found", file=output)


def write_output(output: Path, text: str) -> None:
    """Write beside the target, then rename over it: the report is whole or absent (a failure
    leaves nothing half-written and an older report untouched). OS errors are bad input."""
    import contextlib
    import os

    check_output(output)
    temp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    created = False
    try:
        with temp.open("x", encoding="utf-8") as handle:  # honours the umask, like write_text
            created = True
            handle.write(text)
        os.replace(temp, output)
    except OSError as exc:
        if created:
            with contextlib.suppress(OSError):
                temp.unlink()
        raise BadInput(f"cannot write the report: {exc.strerror or exc}", file=output) from None
