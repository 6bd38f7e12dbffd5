"""Rendering of the client documents (the monthly report, the review pack) to HTML.

One self-contained HTML file per document: inline CSS, inline SVG charts, the logo as a data:
URI, no script and no external resource, ready for a browser or for print to PDF (A4, page
numbers and the MSP's name in the page margins, by CSS ``@page`` rules). Texts go through the
gettext catalog of the document's language, dates and numbers through Babel.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from mspctl.reports.branding import Branding

TEMPLATES = Path(__file__).parent


@cache
def environment(lang: str) -> Any:
    """The Jinja environment of a language (one per process: templates compile once)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from mspctl.catalogue import setting_text
    from mspctl.reports.i18n import Formatter, translations

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(Formatter(lang).filters())
    env.filters["css_string"] = css_string
    env.filters["show"] = lambda value: setting_text(value, "\u2013")
    env.filters["severity"] = lambda value: severity_label(value, translations(lang).gettext)
    return env


def css_string(value: str) -> Any:
    """Text for a CSS string inside <style> (where HTML escapes are not decoded): every
    character but letters, digits, spaces and a few signs as a CSS escape."""
    from markupsafe import Markup

    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-_·")
    escaped = "".join(c if c in safe else f"\\{ord(c):x} " for c in str(value))
    return Markup(escaped)  # noqa: S704 - every character outside a safe set is escaped


def render_monthly(data: dict[str, Any], branding: Branding, logo: str | None) -> str:
    lang = data["lang"]
    env = environment(lang)
    charts = monthly_charts(data, branding.color, env)
    return str(
        env.get_template("monthly.html.j2").render(
            r=data, brand=branding, logo=logo, charts=charts, lang=lang
        )
    )


def monthly_charts(data: dict[str, Any], color: str, env: Any) -> dict[str, str]:
    from mspctl.reports import charts
    from mspctl.reports.i18n import translations

    _ = translations(data["lang"]).gettext
    number = env.filters["number"]
    percent = env.filters["percent"]
    out: dict[str, str] = {}
    trend = data["compliance"]["trend"]
    if trend:
        out["compliance"] = charts.line(
            "compliance",
            _("Compliance score per day (%)"),
            [env.filters["day"](p["date"]) for p in trend],
            [p["score"] for p in trend],
            color,
            range_=(0, 100),
            formatter=percent,
        )
    hosts = [h for h in data["patching"]["hosts"] if h["sessions"] or h["reboots"] or h["missed"]]
    if hosts:
        out["patching"] = charts.bars(
            "patching",
            _("Patching per system"),
            [h["host"] for h in hosts],
            [
                (_("update sessions"), [h["sessions"] for h in hosts]),
                (_("reboots"), [h["reboots"] for h in hosts]),
                (_("missed windows"), [h["missed"] for h in hosts]),
            ],
            color,
            formatter=number,
        )
    monitoring = data["monitoring"]
    if monitoring.get("status") == "ok" and monitoring.get("hosts"):
        out["availability"] = charts.bars(
            "availability",
            _("Availability per system (%)"),
            [h["host"] for h in monitoring["hosts"]],
            [(_("availability"), [h["availability"] for h in monitoring["hosts"]])],
            color,
            horizontal=True,
            range_=(0, 100),
            formatter=percent,
        )
    if monitoring.get("status") == "ok" and monitoring.get("alerts"):
        out["alerts"] = charts.bars(
            "alerts",
            _("Alerts by severity"),
            [severity_label(a["severity"], _) for a in monitoring["alerts"]],
            [(_("alerts"), [a["alerts"] for a in monitoring["alerts"]])],
            color,
            formatter=number,
        )
    return out


def severity_label(severity: str, _: Any) -> str:
    labels = {"critical": _("critical"), "warning": _("warning"), "info": _("information")}
    return str(labels.get(severity, severity))


def render_review(data: dict[str, Any], branding: Branding, logo: str | None) -> str:
    from mspctl.reports import charts
    from mspctl.reports.i18n import translations

    lang = data["lang"]
    env = environment(lang)
    _ = translations(lang).gettext
    labels = [env.filters["month"](m["month"]).split(" ")[0][:3] for m in data["months"]]
    figures: dict[str, str] = {}
    if data["months"] and not data["no_data"]:
        figures["score"] = charts.line(
            "score",
            _("Compliance score at the end of each month (%)"),
            labels,
            [m["score"] for m in data["months"]],
            branding.color,
            range_=(0, 100),
            formatter=env.filters["percent"],
            label_every=1,
        )
        figures["service"] = charts.bars(
            "service",
            _("Service per month"),
            labels,
            [
                (_("update sessions"), [m["sessions"] for m in data["months"]]),
                (_("restore tests"), [m["restore_tests"] for m in data["months"]]),
                (_("missed windows"), [m["missed"] for m in data["months"]]),
            ],
            branding.color,
            formatter=env.filters["number"],
        )
    return str(
        env.get_template("review.html.j2").render(
            r=data, brand=branding, logo=logo, charts=figures, lang=lang
        )
    )
