"""Markdown rendering of a compliance report (for tickets, chat and e-mail)."""

from __future__ import annotations

from typing import Any


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def render_markdown(data: dict[str, Any]) -> str:
    run, summary, client = data["run"], data["summary"], data["client"]
    lines = [
        f"# Compliance report — {client['name']} ({client['id']})",
        "",
        f"Run `{run['id']}` ({run['mode']}, tier {run['tier']}, {run['status']}) started "
        f"{run['started_at']} by {run['user']}.",
        "",
        f"**Score {summary['score']} %** — {summary['pass']} passing, {summary['fail']} failing, "
        f"{summary['error']} errors, {summary['waived']} waived.",
        "",
        "## Policies",
        "",
        _row("policy", "score", "pass", "fail", "error", "waived"),
        _row("---", "---:", "---:", "---:", "---:", "---:"),
    ]
    for name, s in data["policies"].items():
        lines.append(_row(name, f"{s['score']} %", s["pass"], s["fail"], s["error"], s["waived"]))
    lines += [
        "",
        "## Hosts",
        "",
        _row("host", "score", "pass", "fail", "error", "waived"),
        _row("---", "---:", "---:", "---:", "---:", "---:"),
    ]
    for name, s in data["hosts"].items():
        lines.append(_row(name, f"{s['score']} %", s["pass"], s["fail"], s["error"], s["waived"]))
    lines += ["", "## Failing controls", ""]
    if data["failing"]:
        lines += [
            _row("host", "control", "status", "expected", "actual"),
            _row("---", "---", "---", "---", "---"),
        ]
        lines += [
            _row(
                c["host"],
                f"{c['control_id']} — {c['title']}",
                c["status"],
                c["expected"],
                c["actual"],
            )
            for c in data["failing"]
        ]
    else:
        lines.append("None.")
    lines += ["", "## Waived controls", ""]
    if data["waived"]:
        lines += [
            _row("host", "control", "justification", "approved by", "expires"),
            _row("---", "---", "---", "---", "---"),
        ]
        lines += [
            _row(
                c["host"],
                c["control_id"],
                c["waiver"]["justification"],
                c["waiver"]["approved_by"],
                c["waiver"]["expires"],
            )
            for c in data["waived"]
        ]
    else:
        lines.append("None.")
    if data["waivers_expired"]:
        lines += ["", "## Expired waivers (no longer applied)", ""]
        lines += [
            f"- `{w['control']}` on {', '.join(w['hosts'])}: expired {w['expires']}"
            for w in data["waivers_expired"]
        ]
    if data["drift"]:
        lines += [
            "",
            "## Drift (changes pending)",
            "",
            _row("host", "policy", "task", "diff"),
            _row("---", "---", "---", "---"),
        ]
        lines += [
            _row(d["host"], d["policy"] or "-", d["task"], d["diff_summary"] or "")
            for d in data["drift"]
        ]
    if data.get("network_devices"):
        lines += [
            "",
            "## Network devices",
            "",
            _row("device", "model", "serial", "OS version", "uptime", "configuration"),
            _row("---", "---", "---", "---", "---", "---"),
        ]
        lines += [
            _row(
                d["host"],
                d["model"] or "-",
                d["serial"] or "-",
                d["os_version"] or "-",
                d["uptime"] or "-",
                d["config_version"] or "-",
            )
            for d in data["network_devices"]
        ]
    if data.get("contract"):
        c = data["contract"]
        hours = ", ".join(f"{k} {v:g} h" for k, v in c["first_response_hours"].items())
        lines += [
            "",
            "## Contract terms",
            "",
            f"- First response: {hours}",
            f"- Support hours: {', '.join(c['support_hours']['days'])} "
            f"{c['support_hours']['start']} to {c['support_hours']['end']}",
            f"- Evening/weekend support: {c['evening_weekend_support']}",
            f"- All-inclusive assistance: {'yes' if c['all_inclusive_assistance'] else 'no'}",
            f"- On-site call-out discount: {c['onsite_callout_discount_percent']} %",
            f"- Review meetings: {c['review_meetings']['per_year']} per year of "
            f"{c['review_meetings']['hours']:g} h",
        ]
    from mspctl.display import sanitize

    # finding values come from hosts: no raw control character reaches a terminal or a ticket
    return sanitize("\n".join(lines) + "\n")
