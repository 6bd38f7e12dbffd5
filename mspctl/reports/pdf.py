"""Print HTML documents to PDF with headless Chromium (Debian's ``chromium``).

``chromium --headless --print-to-pdf`` with no header or footer of its own: the document's CSS
``@page`` rules give the A4 size, the margins, the page numbers and the MSP's name. Each
document gets its own short-lived browser and a private profile directory in a temporary
folder, removed afterwards; a browser that outlives ``timeout`` is killed with its whole
process group, so nothing is left behind. Several documents print in parallel (``jobs``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mspctl.errors import MspctlError

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
)


def chromium() -> str:
    """The browser: ``MSPCTL_CHROMIUM`` or the first of chromium, chromium-browser,
    google-chrome on PATH."""
    given = os.environ.get("MSPCTL_CHROMIUM")
    found = given or next((p for c in CHROMIUM_CANDIDATES if (p := shutil.which(c))), None)
    if not found:
        raise MspctlError(
            "PDF needs chromium (scripts/setup-host installs it; MSPCTL_CHROMIUM names another)"
        )
    return found


def print_pdf(html: Path, pdf: Path, *, timeout: float = 120.0) -> None:
    """Print one HTML file to ``pdf`` (written beside it, then renamed: whole or absent)."""
    browser = chromium()
    partial = pdf.with_name(f".{pdf.name}.{os.getpid()}.tmp")
    with tempfile.TemporaryDirectory(prefix="mspctl-pdf-") as profile:
        argv = [
            browser,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--print-to-pdf={partial}",
            html.resolve().as_uri(),
        ]
        process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: killed whole on timeout
        )
        try:
            _out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            partial.unlink(missing_ok=True)
            raise MspctlError(f"chromium did not print {html.name} within {timeout:g} s") from None
        finally:
            _kill_group(process)  # helpers (zygote, GPU) that outlive the browser
    if process.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        last = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise MspctlError(f"chromium could not print {html.name}: {last[0][:300]}")
    os.replace(partial, pdf)


def print_pdfs(
    pairs: Sequence[tuple[Path, Path]], *, jobs: int = 0, timeout: float = 120.0
) -> None:
    """Print several documents, ``jobs`` browsers at a time (default: the CPU count, max 8)."""
    from concurrent.futures import ThreadPoolExecutor

    workers = jobs or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(print_pdf, h, p, timeout=timeout) for h, p in pairs]:
            future.result()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.returncode is None:
        process.wait(10)
