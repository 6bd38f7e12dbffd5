"""Where a run's time went (``mspctl runs show RUN --timings``): its slowest tasks and hosts,
read from the structured events ansible-runner recorded in the run's artifacts
(``artifacts/<id>/job_events/*.json``: every ``runner_on_*`` event carries the task's ``start``,
``end`` and ``duration`` on its host). Nothing is re-run or estimated; a run whose artifacts are
gone says so.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mspctl.errors import BadInput

# the events of a task's outcome on a host (ansible-runner's names); a loop's items have events
# of their own (runner_item_on_*), and the task's outcome event covers them all
_OUTCOMES = frozenset(
    {"runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"}
)


@dataclass(frozen=True)
class TaskTiming:
    host: str
    task: str
    role: str | None
    seconds: float
    status: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "task": self.task,
            "role": self.role,
            "seconds": round(self.seconds, 3),
            "status": self.status,
        }


@dataclass
class HostTiming:
    host: str
    tasks: int = 0
    seconds: float = 0.0  # the sum of its tasks' durations
    first: dt.datetime | None = None
    last: dt.datetime | None = None

    @property
    def wall(self) -> float:
        """From its first task's start to its last task's end."""
        if self.first is None or self.last is None:
            return 0.0
        return (self.last - self.first).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "tasks": self.tasks,
            "task_seconds": round(self.seconds, 3),
            "wall_seconds": round(self.wall, 3),
        }


@dataclass
class Timings:
    tasks: list[TaskTiming] = field(default_factory=list)  # slowest first
    hosts: list[HostTiming] = field(default_factory=list)  # slowest first
    roles: dict[str, float] = field(default_factory=dict)  # role -> task seconds, all hosts
    wall: float = 0.0  # the playbook's first start to its last end

    def as_dict(self, top: int) -> dict[str, Any]:
        return {
            "wall_seconds": round(self.wall, 3),
            "hosts": [h.as_dict() for h in self.hosts],
            "roles": {role: round(s, 3) for role, s in self.roles.items()},
            "slowest_tasks": [t.as_dict() for t in self.tasks[:top]],
        }


def _instant(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def job_events_dir(artifacts_dir: Path) -> Path | None:
    """The ``job_events`` folder of a run's private data dir (``artifacts/<ident>/job_events``)."""
    found = sorted((artifacts_dir / "artifacts").glob("*/job_events"))
    return found[0] if found else None


def read_timings(artifacts_dir: Path) -> Timings:
    """The timings of the run whose private data dir is ``artifacts_dir``."""
    events = job_events_dir(artifacts_dir)
    if events is None:
        raise BadInput(f"no recorded events in {artifacts_dir} (the run's artifacts are gone)")
    tasks: list[TaskTiming] = []
    hosts: dict[str, HostTiming] = {}
    roles: dict[str, float] = defaultdict(float)
    starts: list[dt.datetime] = []
    ends: list[dt.datetime] = []
    for path in events.glob("*.json"):
        try:
            event = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a partly written event of an interrupted run
        if event.get("event") not in _OUTCOMES:
            continue
        data = event.get("event_data") or {}
        host, seconds = data.get("host"), data.get("duration")
        if not isinstance(host, str) or not isinstance(seconds, (int, float)):
            continue
        role = data.get("role") or None
        status = event["event"].removeprefix("runner_on_")
        tasks.append(TaskTiming(host, str(data.get("task") or "?"), role, float(seconds), status))
        timing = hosts.setdefault(host, HostTiming(host))
        timing.tasks += 1
        timing.seconds += float(seconds)
        start, end = _instant(data.get("start")), _instant(data.get("end"))
        if start is not None:
            timing.first = min(timing.first or start, start)
            starts.append(start)
        if end is not None:
            timing.last = max(timing.last or end, end)
            ends.append(end)
        roles[role or "(play)"] += float(seconds)
    tasks.sort(key=lambda t: (-t.seconds, t.host, t.task))
    wall = (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0
    return Timings(
        tasks=tasks,
        hosts=sorted(hosts.values(), key=lambda h: (-h.wall, h.host)),
        roles=dict(sorted(roles.items(), key=lambda item: -item[1])),
        wall=wall,
    )
