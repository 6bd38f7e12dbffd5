"""Compliance as read from the run store: control states at a run, scores, waivers, diffs.

Findings are stored as a change log (see ``store.models.Finding``); the state of a client's
controls at run R is the newest change with ``run_seq <= R.seq``. Waivers are applied here, on
the controller, with the run's date: a waived failing control is ``waived``, never ``pass``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mspctl.store import queries
from mspctl.store.queries import FAILING

if TYPE_CHECKING:
    from mspctl.store.models import TaskRecord
    from mspctl.store.queries import DB as Session
    from mspctl.store.queries import RunRow as Run
    from mspctl.waivers import Waivers
    from mspctl.workspace import Workspace

REPORT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ControlResult:
    host: str
    policy: str
    control_id: str
    title: str
    status: str  # effective: pass | fail | error | waived
    raw_status: str  # as the host reported it
    expected: Any
    actual: Any
    evidence: dict[str, Any]
    since_run_seq: int
    waiver: dict[str, Any] | None
    waiver_expired: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "policy": self.policy,
            "control_id": self.control_id,
            "title": self.title,
            "status": self.status,
            "raw_status": self.raw_status,
            "expected": self.expected,
            "actual": self.actual,
            "evidence": self.evidence,
            "since_run_seq": self.since_run_seq,
            "waiver": self.waiver,
            "waiver_expired": self.waiver_expired,
        }


def evaluate(findings: Iterable[Any], waivers: Waivers, on: dt.date) -> list[ControlResult]:
    out = []
    for f in findings:
        verdict = waivers.verdict(f.host, f.control_id, f.status, on)
        out.append(
            ControlResult(
                host=f.host,
                policy=f.policy,
                control_id=f.control_id,
                title=f.title,
                status=verdict.status,
                raw_status=f.status,
                expected=f.expected,
                actual=f.actual,
                evidence=f.evidence or {},
                since_run_seq=int(f.since_run_seq),
                waiver=verdict.waiver.as_dict() if verdict.waiver else None,
                waiver_expired=verdict.expired,
            )
        )
    return out


def results_at(session: Session, run: Run, waivers: Waivers) -> list[ControlResult]:
    """Control results of a run, waivers applied with the run's date."""
    return evaluate(queries.states_of_run(session, run), waivers, run.started_at.date())


def score(results: Iterable[ControlResult]) -> dict[str, Any]:
    counts = Counter(r.status for r in results)
    considered = counts["pass"] + counts["fail"] + counts["error"]
    return {
        "score": round(100.0 * counts["pass"] / considered, 1) if considered else 100.0,
        "pass": counts["pass"],
        "fail": counts["fail"],
        "error": counts["error"],
        "waived": counts["waived"],
        "total": sum(counts.values()),
    }


def grouped_scores(results: list[ControlResult], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[ControlResult]] = defaultdict(list)
    for r in results:
        groups[getattr(r, key)].append(r)
    return {name: score(items) for name, items in sorted(groups.items())}


def drift_of(session: Session, run: Run) -> list[dict[str, Any]]:
    """Tasks a check run found would change (the drift), with their diff summaries."""
    if run.mode != "check":
        return []
    return [
        {"host": t.host, "policy": t.policy, "task": t.task, "diff_summary": t.diff_summary}
        for t in queries.changed_tasks(session, run)
    ]


# -- assets --------------------------------------------------------------------------------
def asset_changes(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    changes = []
    for host in sorted(set(before) & set(after)):
        a, b = _flatten(before[host]), _flatten(after[host])
        for key in sorted(set(a) | set(b)):
            if key.endswith("uptime"):  # a network device's uptime grows every run
                continue
            if a.get(key) != b.get(key):
                changes.append({"host": host, "field": key, "from": a.get(key), "to": b.get(key)})
    return changes


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        out = {}
        for i, item in enumerate(data):
            name = item.get("name", i)
            out.update(_flatten(item, f"{prefix}[{name}]"))
        return out
    return {prefix: data}


# -- comparing two runs --------------------------------------------------------------------
def compare(
    before: list[ControlResult], after: list[ControlResult]
) -> dict[str, list[dict[str, Any]]]:
    """Newly failing, fixed, still failing, newly waived and expired waivers between two runs."""
    a = {(r.host, r.control_id): r for r in before}
    b = {(r.host, r.control_id): r for r in after}
    out: dict[str, list[dict[str, Any]]] = {
        "newly_failing": [],
        "fixed": [],
        "still_failing": [],
        "newly_waived": [],
        "waivers_expired": [],
    }
    for key in sorted(set(a) | set(b)):
        old, new = a.get(key), b.get(key)
        if new is None:
            continue
        entry = {
            "host": new.host,
            "policy": new.policy,
            "control_id": new.control_id,
            "title": new.title,
            "from": old.status if old else None,
            "to": new.status,
            "actual": new.actual,
            "evidence": new.evidence,
        }
        was_failing = old is not None and old.status in FAILING
        if new.status in FAILING:
            if new.waiver_expired and (old is None or old.status == "waived" or not was_failing):
                out["waivers_expired"].append({**entry, "waiver": new.waiver})
            elif was_failing:
                out["still_failing"].append(entry)
            else:
                out["newly_failing"].append(entry)
        elif new.status == "waived" and (old is None or old.status != "waived"):
            out["newly_waived"].append({**entry, "waiver": new.waiver})
        elif new.status == "pass" and (was_failing or (old is not None and old.status == "waived")):
            out["fixed"].append(entry)
    return out


# -- mspctl diff -----------------------------------------------------------------------------
def _run_hosts(run: Run) -> set[str]:
    return {h.host for h in run.hosts}


def client_diff(
    workspace: Workspace, client: str, from_ref: str | None, to_ref: str | None
) -> dict[str, Any]:
    """What changed in a client's compliance between two runs (default: the last two)."""
    from mspctl.waivers import Waivers

    # an offboarded client (inventory archived) keeps its history: diffed without waivers
    waivers = workspace.waivers_of(client) or Waivers([], {})
    with workspace.store.reader() as session:
        to_run = queries.resolve_run(session, client, to_ref)
        from_run = (
            queries.resolve_run(session, client, from_ref)
            if from_ref
            else queries.previous_run(session, to_run)
        )
        before = results_at(session, from_run, waivers)
        after = results_at(session, to_run, waivers)
        hosts_before, hosts_after = _run_hosts(from_run), _run_hosts(to_run)
        assets = asset_changes(
            queries.assets_at(session, client, from_run.seq),
            queries.assets_at(session, client, to_run.seq),
        )
        runs = {"from": _run_ref(from_run), "to": _run_ref(to_run)}
        healed = drift_fixed(session, from_run, to_run)
    changes = compare(before, after)
    changes["fixed"] += healed

    return {
        "client": client,
        **runs,
        **changes,
        "hosts_added": sorted(hosts_after - hosts_before) if from_run.full and to_run.full else [],
        "hosts_removed": sorted(hosts_before - hosts_after)
        if from_run.full and to_run.full
        else [],
        "asset_changes": assets,
        "summary": {"from": score(before), "to": score(after)},
    }


def drift_fixed(session: Session, before: Run, after: Run) -> list[dict[str, Any]]:
    """Drift a check run found (tasks that would change) that the later run no longer has:
    healed by an apply that succeeded on the host, or gone in a later check."""
    if before.mode != "check":
        return []

    def changed(run: Run) -> dict[tuple[str, str | None, str], TaskRecord]:
        return {(t.host, t.policy, t.task): t for t in queries.changed_tasks(session, run)}

    found = changed(before)
    if not found:
        return []
    still = changed(after) if after.mode == "check" else {}
    healthy = {h.host for h in after.hosts if not h.failed and not h.unreachable}
    out: list[dict[str, Any]] = []
    for (host, policy, task), record in sorted(found.items(), key=lambda kv: kv[0][:1]):
        if host in healthy and (host, policy, task) not in still:
            out.append(
                {
                    "host": host,
                    "policy": policy or "-",
                    "control_id": f"drift: {task}",
                    "title": f"drift healed ({record.diff_summary or 'changed'})",
                    "from": "drift",
                    "to": "converged",
                    "actual": None,
                    "evidence": {},
                }
            )
    return out


def _run_ref(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "seq": run.seq,
        "mode": run.mode,
        "started_at": run.started_at.isoformat(),
        "tier": run.tier,
    }


def fleet_diff(workspace: Workspace) -> list[dict[str, Any]]:
    """Every client's last run against the run before it, for a morning summary.

    Built from the change log (see :func:`mspctl.store.queries.fleet_snapshot`), so it stays
    fast for a fleet; a client's waivers are loaded only when one of its controls newly
    fails."""
    snap = queries.fleet_snapshot(workspace.store)
    hosts = snap.hosts
    out = []
    for client, entry in sorted(snap.pairs.items()):
        last_seq, last_full, started = entry["last"]
        prev_seq, prev_full, _ = entry["previous"]
        day = started.date()
        counts: Counter[str] = Counter()
        waivers: Waivers | None = None
        for row in snap.changes.get(client, []):
            now_failing = row.status in FAILING
            was_failing = row.previous_status in FAILING
            if now_failing and not was_failing and waivers is None:
                waivers = workspace.waivers_of(client)
            waived = (
                waivers is not None
                and now_failing
                and waivers.verdict(row.host, row.control_id, row.status, day).status == "waived"
            )
            if now_failing and not was_failing:
                counts["newly_waived" if waived else "newly_failing"] += 1
            elif was_failing and row.status == "pass":
                counts["fixed"] += 1
        both_full = bool(last_full and prev_full)
        out.append(
            {
                "client": client,
                "from_seq": prev_seq,
                "to_seq": last_seq,
                "newly_failing": counts["newly_failing"],
                "fixed": counts["fixed"],
                "newly_waived": counts["newly_waived"],
                "failing_now": snap.failing.get(client, 0),
                "hosts_added": sorted(hosts[last_seq] - hosts[prev_seq]) if both_full else [],
                "hosts_removed": sorted(hosts[prev_seq] - hosts[last_seq]) if both_full else [],
                "asset_changes": snap.asset_changes.get(client, 0),
            }
        )
    return out
