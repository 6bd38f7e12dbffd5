"""Which processes a test started: found by the private state dir in their command line or
environment, which every descendant inherits (ansible-playbook, workers, mitogen contexts)."""

from __future__ import annotations

import os
from pathlib import Path


def _start_time(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    btime = next(
        float(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    return btime + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def processes_mentioning(text: str, since: float) -> dict[int, str]:
    """Live processes started after ``since`` whose command line or environment mentions
    ``text`` (the test's private state dir): mspctl, ansible-playbook, workers, mitogen."""
    needle = text.encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            if Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            if _start_time(int(entry)) < since - 1:
                continue
        except (OSError, IndexError):
            continue
        if needle in cmdline or needle in environ:
            found[int(entry)] = cmdline.replace(b"\0", b" ").decode(errors="replace")[:200]
    return found
