"""The monthly client report: a month of service, as plain data built from the run store.

``build`` reads one client's month (``queries.month_history``: a handful of queries) and
derives what a business owner reads first: backups done and proven restorable, systems
patched, what broke and what was prevented, and what needs a decision. Rendering (HTML, PDF,
languages) is :mod:`mspctl.reports.document`'s job; this module has no output and no language.

How the store's records become service facts (the store keeps a control's row when its status
changes, plus every run's per-host recap and per-task outcome):

- a run's day is its start's date in the client's time zone; the month runs from the 1st at
  00:00 to the 1st of the next month, in that zone;
- backups: a host's day is ``ok`` when ``backup_agent.snapshot_age`` passed at the last run of
  that day that reached the host (a snapshot younger than the tier's maximum age existed),
  ``failed`` when it failed, ``unreachable`` when the run could not reach the host;
- restore tests: the runs whose ``restore_test`` task ran (changed); their result is the
  ``backup_agent.restore_test`` control at that run, their evidence (files, checksums) the one
  the store kept for that run (its newest test, or a test that changed the control's status);
- patching: a session is a run whose ``apt_upgrade`` task changed the host; a reboot a changed
  ``reboot`` task; missed windows and their catch-ups are ``run-due``'s patch events (a host
  due in its open window and unreachable; the patch that closed the miss, before the month's
  end);
- compliance: each day's score is the state of every control at that day's last run
  (replayed from the recorded changes, waivers applied on that day); drift found is a control
  that went from pass to fail or error in the month, fixed the reverse.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from mspctl import __version__
from mspctl.errors import BadInput

if TYPE_CHECKING:
    from collections.abc import Callable

    from mspctl.clients import Client
    from mspctl.store.queries import MonthHistory
    from mspctl.waivers import Waivers
    from mspctl.workspace import Workspace

MONTHLY_FORMAT_VERSION = 1
DECISION_DAYS = 90  # warranties and waivers ending this soon need a decision
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
FAILING = ("fail", "error")
SNAPSHOT_CONTROL = "backup_agent.snapshot_age"
RESTORE_CONTROL = "backup_agent.restore_test"
PENDING_CONTROLS = ("patching.security_updates", "patching.other_updates")
PATCH_ACTIONS = ("apt_upgrade", "win_updates")
ACTIONS_READ = (*PATCH_ACTIONS, "reboot", "restore_test")  # the tasks the report counts
CONTROLS_READ = (SNAPSHOT_CONTROL, RESTORE_CONTROL, *PENDING_CONTROLS)  # evidence and state


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def last(self) -> dt.date:
        return dt.date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range(self.last.day)]

    def not_after(self, today: dt.date, *, key: str = "--month") -> None:
        """Bad input naming the option when the month begins after ``today``."""
        if self.first > today:
            raise BadInput(f"{self} is in the future (today is {today.isoformat()})", key=key)

    def bounds(self, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """The month as an instant range ``[start, end)`` in a time zone."""
        nxt = self.last + dt.timedelta(days=1)
        return (
            dt.datetime.combine(self.first, dt.time(), tzinfo=zone),
            dt.datetime.combine(nxt, dt.time(), tzinfo=zone),
        )


def parse_month(value: str, *, key: str = "--month") -> Month:
    """``YYYY-MM``, else bad input naming the option (whether it has begun is
    :meth:`Month.not_after`'s question: it depends on the client's time zone)."""
    match = _MONTH.match(value)
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise BadInput(f"expected a month YYYY-MM, got {value[:40]!r}", key=key)
    return Month(int(match.group(1)), int(match.group(2)))


def client_today(client: Client, now: dt.datetime | None = None) -> dt.date:
    """The date where the client is: a month (or a year) has begun for a client when it has
    begun in the client's time zone, not in UTC nor on the controller's clock."""
    moment = now or dt.datetime.now(dt.UTC)
    return moment.astimezone(ZoneInfo(client.data.timezone)).date()


def build(
    workspace: Workspace,
    slug: str,
    month: Month,
    *,
    lang: str | None = None,
    monitoring: Callable[[Client, dt.datetime, dt.datetime], dict[str, Any]] | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The monthly report of a client as plain (JSON-able) data."""
    from mspctl.store.queries import month_history

    client = workspace.clients.get(slug)
    zone = ZoneInfo(client.data.timezone)
    start, end = month.bounds(zone)
    with workspace.store.session() as session:
        history = month_history(
            session, client.slug, start, end, controls=CONTROLS_READ, actions=ACTIONS_READ
        )
    waivers = workspace.waivers(client)
    if monitoring is None:
        from mspctl.reports.prometheus import monitoring_section

        monitoring = monitoring_section
    tier = client.effective_tier(month.last)
    catalogue = workspace.catalogue
    contract = (
        catalogue.get(tier.name).tier.contract.model_dump(mode="json", exclude_none=True)
        if tier.name in catalogue.names
        else None
    )
    data = derive(history, month, zone, waivers)
    data["monitoring"] = monitoring(client, start, end)
    data["first_response"] = _first_response(workspace, client.slug, start, end, now)
    data["contract"] = contract
    data["client"] = {
        "id": client.slug,
        "name": client.data.name,
        "timezone": client.data.timezone,
        "language": client.data.language,
        "tier": tier.name,
        "tier_reason": tier.reason,
        "contract_tier": client.data.contract.tier,
    }
    data["lang"] = lang or client.data.language
    data["generated_at"] = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    data["generator"] = f"mspctl {__version__}"
    data["format_version"] = MONTHLY_FORMAT_VERSION
    return data


def _first_response(
    workspace: Workspace,
    slug: str,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime | None,
) -> dict[str, Any]:
    """The incidents that started in the month and how fast they were answered (SLA results at
    the report's making: an incident still unanswered then counts as pending or breached)."""
    from mspctl.incidents.service import first_response
    from mspctl.store.queries import incidents

    rows = [i for i in incidents(workspace.store, slug, since=start) if i.started_at < end]
    return first_response(rows, now or dt.datetime.now(dt.UTC))


def derive(history: MonthHistory, month: Month, zone: ZoneInfo, waivers: Waivers) -> dict[str, Any]:
    """Everything of the report that comes from the store (pure: no I/O)."""
    return _Month(history, month, zone, waivers).data()


class _Month:
    """One client's month, replayed run by run; one method per report section."""

    def __init__(
        self, history: MonthHistory, month: Month, zone: ZoneInfo, waivers: Waivers
    ) -> None:
        self.history = history
        self.month = month
        self.waivers = waivers
        self.reference = month.last  # warranties and waivers are judged on the month's last day
        self.runs = history.runs
        self.day_of = {r.id: r.started_at.astimezone(zone).date() for r in self.runs}
        self.seq_day = {r.seq: self.day_of[r.id] for r in self.runs}
        self.zone = zone
        self.hosts = sorted({h.host for r in self.runs for h in r.hosts} | set(history.assets_end))
        self.reached = {(r.id, h.host): not h.unreachable for r in self.runs for h in r.hosts}
        self.now_state = {(c.host, c.control_id): c for c in history.controls_now}
        self.tasks: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for task in history.tasks:
            self.tasks[(task.run_id, task.host)].append(task)
        self._replay()

    def _replay(self) -> None:
        """Control states at each run of the month, from the state before it and its changes."""
        first_seq = self.runs[0].seq if self.runs else None
        states: dict[tuple[str, str], str] = {}
        self.changes: dict[int, list[Any]] = defaultdict(list)
        self.evidence_at = self.history.evidence
        for row in self.history.findings:
            if first_seq is None or row.run_seq < first_seq:
                states[(row.host, row.control_id)] = row.status
            else:
                self.changes[row.run_seq].append(row)
        self.snapshot_at: dict[tuple[str, str], str] = {}
        self.restore_at: dict[tuple[str, str], str] = {}
        self.score_by_day: dict[dt.date, dict[str, Any]] = {}
        for run in self.runs:
            for row in self.changes.get(run.seq, []):
                states[(row.host, row.control_id)] = row.status
            for host in self.hosts:
                self.snapshot_at[(run.id, host)] = states.get((host, SNAPSHOT_CONTROL), "absent")
                self.restore_at[(run.id, host)] = states.get((host, RESTORE_CONTROL), "absent")
            day = self.day_of[run.id]
            self.score_by_day[day] = _score(states, self.waivers, day)

    # -- backups -------------------------------------------------------------------------------
    def backups(self) -> dict[str, Any]:
        last_run_of_day: dict[tuple[dt.date, str], str] = {}
        for run in self.runs:
            for h in run.hosts:
                last_run_of_day[(self.day_of[run.id], h.host)] = run.id
        hosts = sorted(
            {h for (_run, h), s in self.snapshot_at.items() if s != "absent"}
            | {h for (h, c) in self.now_state if c == SNAPSHOT_CONTROL and h in self.hosts}
        )
        rows = []
        for host in hosts:
            cells = [
                self._backup_day(last_run_of_day.get((d, host)), host) for d in self.month.days()
            ]
            rows.append(
                {
                    "host": host,
                    "days": cells,
                    "ok": cells.count("ok"),
                    "failed": cells.count("failed"),
                    "unreachable": cells.count("unreachable"),
                }
            )
        return {"calendar": rows, "restore_tests": self.restore_tests()}

    def _backup_day(self, run_id: str | None, host: str) -> str:
        if run_id is None:
            return "none"
        if not self.reached.get((run_id, host), False):
            return "unreachable"
        status = self.snapshot_at.get((run_id, host), "absent")
        return "ok" if status == "pass" else "failed" if status in FAILING else "none"

    def restore_tests(self) -> list[dict[str, Any]]:
        tests = [
            (run, host)
            for run in self.runs
            if run.mode == "apply"
            for host in self.hosts
            if any(
                t.action.endswith("restore_test") and t.changed
                for t in self.tasks.get((run.id, host), [])
            )
        ]
        newest = {host: run.seq for run, host in tests}
        rows = []
        for run, host in tests:
            evidence = self.evidence_at.get((host, RESTORE_CONTROL, run.seq))
            current = self.now_state.get((host, RESTORE_CONTROL))
            if evidence is None and current is not None and newest[host] == run.seq:
                evidence = current.evidence or {}
            result = self.restore_at.get((run.id, host), "absent")
            rows.append(
                {
                    "host": host,
                    "date": self.day_of[run.id].isoformat(),
                    "result": "pass"
                    if result == "pass"
                    else "fail"
                    if result in FAILING
                    else "none",
                    "files": _int(evidence, "files"),
                    "bytes": _int(evidence, "bytes"),
                    "checksums_match": (evidence or {}).get("checksums_match"),
                    "snapshot": (evidence or {}).get("snapshot"),
                    "evidence": evidence is not None,
                }
            )
        return rows

    # -- patching ------------------------------------------------------------------------------
    def patching(self) -> dict[str, Any]:
        per_host = {h: _empty_patch(h) for h in self.hosts}
        windows: list[dict[str, Any]] = []
        for run in self.runs:
            if run.mode != "apply":
                continue
            patched_here = []
            for h in run.hosts:
                row = per_host.setdefault(h.host, _empty_patch(h.host))
                tasks = self.tasks.get((run.id, h.host), [])
                patches = [t for t in tasks if t.changed and t.action.endswith(PATCH_ACTIONS)]
                if patches:
                    row["sessions"] += 1
                    patched_here.append(h.host)
                for task in patches:  # the packages upgraded, by kind (results.task_details)
                    upgraded = (task.details or {}).get("upgraded") or {}
                    row["security"] += int(upgraded.get("security", 0))
                    row["other"] += int(upgraded.get("other", 0))
                if any(t.action.endswith("reboot") and t.changed for t in tasks):
                    row["reboots"] += 1
            if patched_here:
                local = run.started_at.astimezone(self.zone)
                windows.append(
                    {
                        "date": local.date().isoformat(),
                        "time": local.strftime("%H:%M"),
                        "hosts": sorted(patched_here),
                    }
                )
        missed = self._missed(per_host)
        for (host, control), state in self.now_state.items():
            if control in PENDING_CONTROLS and state.status in FAILING and host in per_host:
                packages = (state.evidence or {}).get("packages")
                per_host[host]["pending"] += len(packages) if isinstance(packages, list) else 1
        rows = [per_host[h] for h in sorted(per_host)]
        return {"hosts": rows, "windows": windows, "missed": missed}

    def _missed(self, per_host: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """The windows missed this month (``run-due``'s patch events) and their catch-ups."""
        events = self.history.patch_events
        catch = {e.missed_id: e for e in events if e.kind == "caught_up"}
        rows = []
        self.open_misses: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in (e for e in events if e.kind == "missed"):
            closed = catch.get(event.id)
            row = {
                "host": event.host,
                "date": event.at.astimezone(self.zone).date().isoformat(),
                "failure": event.failure,
                "caught_up": closed.at.astimezone(self.zone).date().isoformat() if closed else None,
                "outside_window": bool(closed and "outside" in closed.detail),
            }
            rows.append(row)
            host = per_host.setdefault(event.host, _empty_patch(event.host))
            host["missed"] += 1
            if closed:
                host["caught_up"] += 1
            else:
                self.open_misses[event.host].append(row)
        return rows

    # -- compliance ----------------------------------------------------------------------------
    def compliance(self) -> dict[str, Any]:
        found, fixed = [], []
        for seq in sorted(self.changes):
            for row in self.changes[seq]:
                if row.previous_status == "pass" and row.status in FAILING:
                    found.append(self._change(row))
                elif row.previous_status in FAILING and row.status == "pass":
                    fixed.append(self._change(row))
        waivers = [
            {
                "control": w.control,
                "hosts": list(w.hosts),
                "justification": w.justification,
                "approved_by": w.approved_by,
                "expires": w.expires.isoformat(),
                "days_left": (w.expires - self.reference).days,
            }
            for w in sorted(self.waivers.items, key=lambda w: (w.expires, w.control))
        ]
        trend = [{"date": d.isoformat(), **self.score_by_day[d]} for d in sorted(self.score_by_day)]
        return {
            "trend": trend,
            "found": found,
            "fixed": fixed,
            "waivers": waivers,
            "score_end": trend[-1]["score"] if trend else None,
        }

    def _change(self, row: Any) -> dict[str, Any]:
        return {
            "host": row.host,
            "control": row.control_id,
            "title": row.title,
            "date": self.seq_day[row.run_seq].isoformat(),
            "status": row.status,
        }

    # -- assets --------------------------------------------------------------------------------
    def assets(self) -> dict[str, Any]:
        warranties = []
        for host, record in sorted(self.history.assets_end.items()):
            warranty = record.get("warranty") if isinstance(record, dict) else None
            ends = _date(warranty.get("warranty_end") if isinstance(warranty, dict) else None)
            if ends is None or not isinstance(warranty, dict):
                continue
            left = (ends - self.reference).days
            warranties.append(
                {
                    "host": host,
                    "ends": ends.isoformat(),
                    "days_left": left,
                    "status": "expired"
                    if left < 0
                    else "ending"
                    if left <= DECISION_DAYS
                    else "ok",
                    "vendor_contract": warranty.get("vendor_contract"),
                    "model": _model(record),
                }
            )
        changes = [
            {"host": a.host, "date": self.seq_day[a.run_seq].isoformat(), "model": _model(a.record)}
            for a in self.history.asset_changes
            if a.run_seq in self.seq_day
        ]
        return {"changes": changes, "warranties": warranties}

    # -- the whole -----------------------------------------------------------------------------
    def data(self) -> dict[str, Any]:
        backups = self.backups()
        patching = self.patching()
        compliance = self.compliance()
        assets = self.assets()
        calendar_rows, restores = backups["calendar"], backups["restore_tests"]
        ok = sum(r["ok"] for r in calendar_rows)
        failed = sum(r["failed"] for r in calendar_rows)
        unreachable_days = sum(r["unreachable"] for r in calendar_rows)
        patch_rows = patching["hosts"]
        summary = {
            "runs": len(self.runs),
            "hosts": len(self.hosts),
            "backups": {
                "ok": ok,
                "failed": failed,
                "unreachable": unreachable_days,
                "host_days": ok + failed + unreachable_days,
                "hosts": len(calendar_rows),
                "restore_tests": len(restores),
                "restore_passed": sum(1 for r in restores if r["result"] == "pass"),
                "restore_files": sum(r["files"] or 0 for r in restores),
            },
            "patching": {
                "hosts_patched": sum(1 for r in patch_rows if r["sessions"]),
                "hosts": len(patch_rows),
                "sessions": sum(r["sessions"] for r in patch_rows),
                "security_updates": sum(r["security"] for r in patch_rows),
                "other_updates": sum(r["other"] for r in patch_rows),
                "reboots": sum(r["reboots"] for r in patch_rows),
                "missed": len(patching["missed"]),
                "caught_up": sum(1 for m in patching["missed"] if m["caught_up"]),
                "pending": sum(r["pending"] for r in patch_rows),
            },
            "broke": {
                "failed_runs": sum(1 for r in self.runs if r.status == "failed"),
                "unreachable": sum(1 for r in self.runs for h in r.hosts if h.unreachable),
                "drift_found": len(compliance["found"]),
                "backup_failures": failed,
                "restore_failures": sum(1 for r in restores if r["result"] == "fail"),
            },
            "prevented": {"drift_fixed": len(compliance["fixed"])},
            "decisions": self._decisions(assets["warranties"], compliance["waivers"]),
        }
        return {
            "month": str(self.month),
            "period": {"first": self.month.first.isoformat(), "last": self.month.last.isoformat()},
            "no_data": not self.runs,
            "summary": summary,
            "days": [d.isoformat() for d in self.month.days()],
            "backups": backups,
            "patching": patching,
            "maintenance": [
                {
                    "start": b.start_local,
                    "timezone": b.timezone,
                    "minutes": b.duration_seconds // 60,
                    "hosts": b.hosts,
                    "reason": b.reason,
                    "booked_by": b.booked_by,
                }
                for b in self.history.bookings
            ],
            "assets": assets,
            "compliance": compliance,
        }

    def _decisions(
        self, warranties: list[dict[str, Any]], waivers: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        decisions = [
            {"kind": f"warranty_{w['status']}", "host": w["host"], "date": w["ends"]}
            for w in warranties
            if w["status"] != "ok"
        ]
        decisions += [
            {
                "kind": "waiver_expired" if w["days_left"] < 0 else "waiver_expiring",
                "host": ", ".join(w["hosts"]),
                "date": w["expires"],
                "control": w["control"],
            }
            for w in waivers
            if w["days_left"] <= DECISION_DAYS
        ]
        decisions += [
            {"kind": "missed_patching", "host": host, "date": misses[0]["date"]}
            for host, misses in sorted(self.open_misses.items())
            if misses
        ]
        return decisions


def _score(states: dict[tuple[str, str], str], waivers: Waivers, on: dt.date) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    for (host, control), status in states.items():
        if status == "absent":
            continue
        effective = status
        if status in FAILING and waivers.items:
            effective = waivers.verdict(host, control, status, on).status
        counts[effective] += 1
    judged = counts["pass"] + counts["fail"] + counts["error"]
    return {
        "score": round(100.0 * counts["pass"] / judged, 1) if judged else None,
        "pass": counts["pass"],
        "fail": counts["fail"] + counts["error"],
        "waived": counts["waived"],
    }


def _empty_patch(host: str) -> dict[str, Any]:
    return {
        "host": host,
        "sessions": 0,
        "security": 0,  # packages upgraded from a security suite
        "other": 0,  # other packages upgraded (new dependencies included)
        "reboots": 0,
        "missed": 0,
        "caught_up": 0,
        "pending": 0,
    }


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _int(evidence: dict[str, Any] | None, key: str) -> int | None:
    value = (evidence or {}).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _model(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    parts = [record.get(k) for k in ("vendor", "model")]
    text = " ".join(str(p) for p in parts if p)
    return text or None
