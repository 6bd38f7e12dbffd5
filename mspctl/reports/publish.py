"""Monthly reports as files: HTML, PDF or JSON, for one client or the whole fleet.

The command calls :func:`monthly_reports`; it builds each client's data
(:mod:`mspctl.reports.monthly`), renders it (:mod:`mspctl.reports.document`) and writes it
atomically; PDFs are printed from the rendered HTML by :mod:`mspctl.reports.pdf`, several at a
time.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mspctl.errors import BadInput

if TYPE_CHECKING:
    from mspctl.reports.monthly import Month
    from mspctl.workspace import Workspace

MONTHLY_FORMATS = ("html", "pdf", "json")


def format_of(fmt: str | None, output: Path | None, *, directory: bool) -> str:
    """``--format``, else the ``-o`` file's suffix, else html."""
    if fmt is not None:
        if fmt not in MONTHLY_FORMATS:
            raise BadInput(
                f"a monthly report is {', '.join(MONTHLY_FORMATS)}, not {fmt}", key="--format"
            )
        return fmt
    if output is not None and not directory:
        suffix = output.suffix.lower().lstrip(".")
        if suffix in MONTHLY_FORMATS:
            return suffix
        if suffix == "htm":
            return "html"
    return "html"


def monthly_reports(
    workspace: Workspace,
    slugs: list[str],
    month: Month,
    *,
    fmt: str,
    lang: str | None,
    targets: Callable[[str], Path],
    jobs: int = 0,
    now: dt.datetime | None = None,
    progress: Callable[[str, Path], None] | None = None,
) -> list[Path]:
    """Write each client's monthly report to ``targets(slug)``; returns the files written."""
    from mspctl.reports import check_output, write_output
    from mspctl.reports.branding import load_branding
    from mspctl.reports.document import render_monthly
    from mspctl.reports.i18n import check_language
    from mspctl.reports.monthly import build

    if lang is not None:
        check_language(lang)
    branding, logo = load_branding(workspace.config.project_dir)
    for slug in slugs:
        check_output(targets(slug))
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="mspctl-report-") as scratch:
        pending: list[tuple[Path, Path]] = []
        for slug in slugs:
            data = build(workspace, slug, month, lang=lang, now=now)
            target = targets(slug)
            if fmt == "json":
                write_output(target, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            else:
                html = render_monthly(data, branding, logo)
                if fmt == "html":
                    write_output(target, html)
                else:
                    page = Path(scratch) / f"{slug}.html"
                    page.write_text(html, encoding="utf-8")
                    pending.append((page, target))
                    continue
            written.append(target)
            if progress:
                progress(slug, target)
        if pending:
            from mspctl.reports.pdf import print_pdfs

            print_pdfs(pending, jobs=jobs)
            for (_page, target), slug in zip(pending, [p[0].stem for p in pending], strict=True):
                written.append(target)
                if progress:
                    progress(slug, target)
    return written


def month_data(workspace: Workspace, slug: str, month: Month, lang: str | None) -> dict[str, Any]:
    """The data of one client's monthly report (``--format json`` on standard output)."""
    from mspctl.reports.monthly import build

    return build(workspace, slug, month, lang=lang)


def write_document(target: Path, fmt: str, render: Callable[[], str]) -> None:
    """One document to ``target``: the rendered HTML, or the PDF printed from it."""
    from mspctl.reports import check_output, write_output

    check_output(target)
    html = render()
    if fmt == "html":
        write_output(target, html)
        return
    from mspctl.reports.pdf import print_pdf

    with tempfile.TemporaryDirectory(prefix="mspctl-report-") as scratch:
        page = Path(scratch) / "document.html"
        page.write_text(html, encoding="utf-8")
        print_pdf(page, target)
