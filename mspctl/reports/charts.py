"""Charts of the client documents as inline SVG, drawn by pygal.

Each chart is self-contained and deterministic: no script (pygal's tooltips load JavaScript
from the web), no XML declaration or namespaces URLs, no generation-date comment, and an id
derived from the chart's name instead of pygal's random one, so two renderings of the same
data are byte-identical. Fonts are the system's (no web font).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

WIDTH = 720
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
_SCRIPT = re.compile(r"<script[^>]*>.*?</script>|<script[^>]*/>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')


def _style(color: str) -> Any:
    from pygal.style import Style

    return Style(
        background="white",
        plot_background="white",
        foreground="#333333",
        foreground_strong="#202124",
        foreground_subtle="#5f6368",
        font_family=FONT,
        label_font_family=FONT,
        major_label_font_family=FONT,
        value_font_family=FONT,
        value_label_font_family=FONT,
        legend_font_family=FONT,
        title_font_family=FONT,
        tooltip_font_family=FONT,
        colors=(color, "#b3261e", "#9a6700", "#1b7f3b", "#5f6368"),
        title_font_size=14,
        label_font_size=11,
        major_label_font_size=11,
        legend_font_size=11,
    )


def _config(name: str, color: str, **extra: Any) -> dict[str, Any]:
    return {
        "style": _style(color),
        "js": [],
        "disable_xml_declaration": True,
        "width": WIDTH,
        "height": 260,
        "explicit_size": False,
        "show_legend": False,
        "print_values": False,
        "margin": 8,
        "pretty_print": False,
        **extra,
    }


def _svg(chart: Any, name: str) -> str:
    chart.uuid = f"mspctl-{name}"  # pygal's is random; the CSS is scoped by it
    text = str(chart.render(is_unicode=True))
    text = _SCRIPT.sub("", text)
    text = _COMMENT.sub("", text)
    text = _NAMESPACES.sub("", text)
    return text.replace("xlink:href", "href")


def line(
    name: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    color: str,
    *,
    range_: tuple[float, float] | None = None,
    formatter: Any = None,
    label_every: int = 7,
) -> str:
    import pygal

    extra: dict[str, Any] = {"range": range_} if range_ else {}
    chart = pygal.Line(
        **_config(name, color, title=title, x_label_rotation=0, show_minor_x_labels=False, **extra)
    )
    chart.x_labels = list(labels)
    chart.x_labels_major = list(labels[::label_every])
    if formatter is not None:
        chart.value_formatter = formatter
    chart.add(title, list(values))
    return _svg(chart, name)


def bars(
    name: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    color: str,
    *,
    horizontal: bool = False,
    formatter: Any = None,
    range_: tuple[float, float] | None = None,
) -> str:
    import pygal

    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    extra: dict[str, Any] = {"range": range_} if range_ else {}
    height = max(160, 28 * len(labels) + 80) if horizontal else 260
    chart = kind(
        **_config(name, color, title=title, height=height, show_legend=len(series) > 1, **extra)
    )
    if len(series) > 1:
        chart.legend_at_bottom = True
    chart.x_labels = list(labels)
    if formatter is not None:
        chart.value_formatter = formatter
    top = max((v for _label, values in series for v in values if v is not None), default=0)
    if not horizontal and top <= 10 and range_ is None:  # counts: whole numbers on the axis
        chart.y_labels = list(range(0, int(top) + 2))
    for label, values in series:
        chart.add(label, list(values))
    return _svg(chart, name)
