"""Print HTML documents to PDF with headless Chromium (Debian's ``chromium``).

No header or footer of Chromium's own: the document's CSS ``@page`` rules give the A4 size, the
margins, the page numbers and the MSP's name. One document: ``chromium --headless
--print-to-pdf`` (:func:`print_pdf`). Many (``report --all``): ``jobs`` long-lived browsers
driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: no port, nothing
else can talk to them), each printing document after document with ``Page.printToPDF``
(:func:`print_pdfs`), which saves a browser start per document.

Every browser has a private profile directory in a temporary folder, removed afterwards, and
its own process group, killed whole when it is done or outlives ``timeout``: nothing is left
behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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

# the long-lived browser: the same without the print flags (--run-all-compositor-stages-...
# makes its renderer crash when a page is printed over the protocol)
BROWSER_FLAGS = tuple(
    f
    for f in FLAGS
    if f not in ("--no-pdf-header-footer", "--run-all-compositor-stages-before-draw")
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
    """Print several documents with ``jobs`` browsers (default: the CPU count, at most 8),
    each taking the next document when it is done with one."""
    import queue
    from concurrent.futures import ThreadPoolExecutor

    todo: queue.SimpleQueue[tuple[Path, Path]] = queue.SimpleQueue()
    for pair in pairs:
        todo.put(pair)
    workers = max(1, min(jobs or min(8, os.cpu_count() or 1), len(pairs)))

    def work() -> None:
        with Browser(timeout=timeout) as browser:
            while True:
                try:
                    html, pdf = todo.get_nowait()
                except queue.Empty:
                    return
                browser.print(html, pdf)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(work) for _ in range(workers)]:
            future.result()


class Browser:
    """A headless Chromium driven over the DevTools protocol on a pipe (fd 3: commands in,
    fd 4: replies and events out, each a JSON message ended by a NUL byte)."""

    def __init__(self, *, timeout: float = 120.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="mspctl-pdf-")
        self._ids = 0
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        commands_in, commands = os.pipe()
        replies, replies_out = os.pipe()
        # above 4 in the parent, so dup2 onto 3 and 4 in the child cannot clobber them
        child_in = fcntl.fcntl(commands_in, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(replies_out, fcntl.F_DUPFD, 10)

        def wire() -> None:  # in the child, before exec
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        try:
            self.process = subprocess.Popen(
                [
                    chromium(),
                    *BROWSER_FLAGS,
                    "--remote-debugging-pipe",
                    f"--user-data-dir={self._profile.name}",
                    "about:blank",
                ],
                pass_fds=(3, 4),
                preexec_fn=wire,  # noqa: PLW1509 - only dup2 before exec
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            os.close(commands)
            os.close(replies)
            self._profile.cleanup()
            raise
        finally:
            for fd in (commands_in, replies_out, child_in, child_out):
                os.close(fd)
        self._out = os.fdopen(commands, "wb", buffering=0)
        self._in = replies

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def print(self, html: Path, pdf: Path) -> None:
        """Print one document to ``pdf`` (written beside it, then renamed)."""
        import base64

        deadline = time.monotonic() + self.timeout
        tab = self.call("Target.createTarget", {"url": "about:blank"}, deadline=deadline)[
            "targetId"
        ]
        try:
            session = self.call(
                "Target.attachToTarget", {"targetId": tab, "flatten": True}, deadline=deadline
            )["sessionId"]
            self.call("Page.enable", session=session, deadline=deadline)
            self.call("Page.navigate", {"url": html.resolve().as_uri()}, session, deadline)
            self._event("Page.loadEventFired", session, deadline)
            data = self.call(
                "Page.printToPDF",
                {"printBackground": True, "preferCSSPageSize": True, "displayHeaderFooter": False},
                session,
                deadline,
            )["data"]
        finally:
            with contextlib.suppress(MspctlError):  # gone already: nothing to close
                self.call("Target.closeTarget", {"targetId": tab}, deadline=deadline + 10)
        partial = pdf.with_name(f".{pdf.name}.{os.getpid()}.tmp")
        partial.write_bytes(base64.b64decode(data))
        os.replace(partial, pdf)

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        self._ids += 1
        message: dict[str, Any] = {"id": self._ids, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._out.write(json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._ids:
                if "error" in reply:
                    raise MspctlError(f"chromium: {method}: {reply['error'].get('message')}")
                result: dict[str, Any] = reply.get("result") or {}
                return result
            if "method" in reply:
                self._events.append(reply)

    def _event(self, method: str, session: str, deadline: float) -> None:
        while True:
            for i, event in enumerate(self._events):
                if event.get("sessionId") != session:
                    continue
                if event.get("method") == method:
                    del self._events[i]
                    return
                if event.get("method") == "Inspector.detached":  # the page's renderer died
                    reason = (event.get("params") or {}).get("reason", "detached")
                    raise MspctlError(f"chromium could not print the page: {reason}")
            self._events.append(self._read(deadline))

    def _read(self, deadline: float | None) -> dict[str, Any]:
        import select

        while b"\0" not in self._buffer:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise MspctlError(f"chromium did not answer within {self.timeout:g} s")
            ready, _, _ = select.select([self._in], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise MspctlError("chromium stopped while printing")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        data: dict[str, Any] = json.loads(message)
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError, MspctlError):
            self.call("Browser.close", deadline=time.monotonic() + 5)
        with contextlib.suppress(OSError):
            self._out.close()
        with contextlib.suppress(OSError):
            os.close(self._in)
        _kill_group(self.process)
        self._profile.cleanup()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.returncode is None:
        process.wait(10)
