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
) -> list[Path]:
    """Write each client's monthly report to ``targets(slug)``; returns the files written.

    Several clients are built in ``jobs`` worker processes (default: the CPU count), each with
    its own connection to the store; PDFs are printed by as many browsers at a time."""
    from mspctl.reports import check_output
    from mspctl.reports.branding import load_branding
    from mspctl.reports.i18n import check_language

    if lang is not None:
        check_language(lang)
    load_branding(workspace.config.project_dir)  # a broken branding file fails before any work
    items = [(slug, targets(slug)) for slug in slugs]
    for _slug, target in items:
        check_output(target)
    workers = max(1, min(jobs or default_jobs(), len(items) // MIN_PER_WORKER))
    with tempfile.TemporaryDirectory(prefix="mspctl-report-") as scratch:
        pages = (
            [(slug, Path(scratch) / f"{slug}.html") for slug, _target in items]
            if fmt == "pdf"
            else items
        )
        kind = "html" if fmt == "pdf" else fmt
        if workers == 1:
            _write(workspace, pages, month, kind, lang, now)
        else:
            _write_in_processes(workspace, pages, month, kind, lang, now, workers)
        if fmt == "pdf":
            from mspctl.reports.pdf import print_pdfs

            print_pdfs(
                [(page, target) for (_s, page), (_s2, target) in zip(pages, items, strict=True)],
                jobs=jobs,
            )
    return [target for _slug, target in items]


MIN_PER_WORKER = 20  # fewer clients than this per process: not worth starting one


def default_jobs() -> int:
    import os

    return min(8, os.cpu_count() or 1)


def _write(
    workspace: Workspace,
    items: list[tuple[str, Path]],
    month: Month,
    fmt: str,
    lang: str | None,
    now: dt.datetime | None,
) -> None:
    from mspctl.reports import write_output
    from mspctl.reports.branding import load_branding
    from mspctl.reports.document import render_monthly
    from mspctl.reports.monthly import build

    branding, logo = load_branding(workspace.config.project_dir)
    for slug, target in items:
        data = build(workspace, slug, month, lang=lang, now=now)
        if fmt == "json":
            write_output(target, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        else:
            write_output(target, render_monthly(data, branding, logo))


def _write_in_processes(
    workspace: Workspace,
    items: list[tuple[str, Path]],
    month: Month,
    fmt: str,
    lang: str | None,
    now: dt.datetime | None,
    workers: int,
) -> None:
    """:func:`_write` in ``workers`` fresh processes (spawned: no store connection is shared
    across a fork), over interleaved chunks so each gets a fair share."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    config = workspace.config
    where = (str(config.project_dir), str(config.home), config.db_url)
    chunks = [items[i :: workers * 4] for i in range(workers * 4)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(_write_chunk, where, chunk, month, fmt, lang, now)
            for chunk in chunks
            if chunk
        ]
        for future in futures:
            future.result()


def _write_chunk(
    where: tuple[str, str, str],
    items: list[tuple[str, Path]],
    month: Month,
    fmt: str,
    lang: str | None,
    now: dt.datetime | None,
) -> None:
    from mspctl.workspace import Workspace

    project_dir, home, db_url = where
    workspace = Workspace(project_dir=Path(project_dir), home=Path(home), db_url=db_url)
    try:
        _write(workspace, items, month, fmt, lang, now)
    finally:
        if "store" in workspace.__dict__:
            workspace.store.engine.dispose()


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
