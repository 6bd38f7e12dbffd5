"""Deprecation warnings of recorded runs, read straight from ansible-runner's artifacts (every
``job_events/*.json`` of a run folder), independently of mspctl's own reading of them: the
``deprecations`` of task results (and of loop items) and the ``[DEPRECATION WARNING]`` lines
ansible printed. Mitogen's strategy deprecation is the one allowed: ansible-core 2.19+ calls
every strategy outside ``ansible.builtin`` deprecated, and mspctl explains it once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MARK = "[DEPRECATION WARNING]"
ALLOWED = ("strategy plugins not included in ansible.builtin",)  # Mitogen's strategy


def _structured(res: Any) -> list[str]:
    if not isinstance(res, dict):
        return []
    listed = res.get("deprecations") or []
    found = [str(d.get("msg", d) if isinstance(d, dict) else d) for d in listed]
    for item in res.get("results") or []:
        found += _structured(item)
    return found


def run_deprecations(run_dir: Path) -> list[str]:
    """Every deprecation warning in the events of the runs under ``run_dir``."""
    found: list[str] = []
    for path in sorted(run_dir.glob("**/artifacts/*/job_events/*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        found += _structured((event.get("event_data") or {}).get("res"))
        found += [line for line in str(event.get("stdout") or "").splitlines() if MARK in line]
    return found


def unexpected(found: list[str]) -> list[str]:
    return [text for text in found if not any(allowed in text for allowed in ALLOWED)]


def assert_no_deprecation_but_mitogen(home: Path) -> list[str]:
    """Fail on any deprecation in the runs recorded under ``home`` (MSPCTL_HOME) other than
    Mitogen's; returns all of them (the caller may check that Mitogen's is among them)."""
    found = run_deprecations(home / "runs")
    assert unexpected(found) == [], "\n".join(unexpected(found))
    return found
