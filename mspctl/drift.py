"""Drift: the client's tier run in check + diff mode, and what it found, classified.

A change found by a check run is **drift** when the policy's desired state did not change since
the last successful apply of that policy (same fingerprint: tier values, role files, inventory):
the host moved away. Otherwise it is a **pending intentional change** (the tier or the inventory
changed and was not applied yet), as Puppet separates corrective from intentional changes.
Failing controls (not waived) are reported with them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mspctl.errors import ExitCode
from mspctl.results import collect_findings, masker, policy_of, render_diff

if TYPE_CHECKING:
    from collections.abc import Callable

    from mspctl.engine import Outcome, Plan
    from mspctl.runner import ProgressEvent
    from mspctl.waivers import Waivers
    from mspctl.workspace import Workspace

DRIFT = "drift"
INTENTIONAL = "pending change"


@dataclass
class DriftReport:
    run_id: str
    client: str
    changes: list[dict[str, Any]] = field(default_factory=list)
    failing: list[dict[str, Any]] = field(default_factory=list)
    failed_hosts: list[str] = field(default_factory=list)  # failed or unreachable
    unreachable_hosts: list[str] = field(default_factory=list)
    status: str = "successful"

    @property
    def exit_code(self) -> ExitCode:
        if self.status == "aborted":
            return ExitCode.ABORTED
        if self.failed_hosts or self.status != "successful":
            return ExitCode.FAILED
        if self.changes or self.failing:
            return ExitCode.DRIFT
        return ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "client": self.client,
            "status": self.status,
            "exit_code": int(self.exit_code),
            "drift": [c for c in self.changes if c["kind"] == DRIFT],
            "pending_changes": [c for c in self.changes if c["kind"] == INTENTIONAL],
            "failing_controls": self.failing,
            "failed_hosts": self.failed_hosts,
            "unreachable_hosts": self.unreachable_hosts,
        }


def check(
    workspace: Workspace,
    planned: Plan,
    *,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> DriftReport:
    """Run a check plan (``engine.plan`` with check and diff) and classify what it found."""
    from mspctl.engine import execute
    from mspctl.store.queries import last_applied_fingerprints

    waivers = workspace.waivers(planned.client)
    applied = last_applied_fingerprints(workspace.store, planned.client.slug)
    outcome = execute(
        workspace, planned, on_progress=on_progress, on_wait=on_wait, on_notice=on_notice
    )
    return analyse(outcome, applied, waivers)


def analyse(outcome: Outcome, applied: dict[str, str], waivers: Waivers) -> DriftReport:
    """Classify what a check run found; secret values masked."""
    result = outcome.result
    plan = outcome.plan
    mask = masker(plan.secret_values)
    report = DriftReport(
        run_id=outcome.run_id,
        client=plan.client.slug,
        failed_hosts=result.failed_hosts,
        unreachable_hosts=sorted(h for h, s in result.hosts.items() if s.unreachable),
        status=result.status,
    )
    for task in result.tasks:
        if not task.changed:
            continue
        policy = policy_of(task)
        same = policy is not None and applied.get(policy) == plan.fingerprints.get(policy)
        report.changes.append(
            {
                "kind": DRIFT if same else INTENTIONAL,
                "host": task.host,
                "policy": policy,
                "task": task.task,
                "diff": mask(render_diff(task)),
            }
        )
    today = dt.datetime.now(dt.UTC).date()
    for item in collect_findings(result, mask):
        if item["status"] == "pass":
            continue
        verdict = waivers.verdict(item["host"], item["control_id"], item["status"], today)
        if verdict.status == "waived":
            continue
        report.failing.append(
            {
                "host": item["host"],
                "policy": item["policy"],
                "control_id": item["control_id"],
                "title": item["title"],
                "status": item["status"],
                "expected": item.get("expected"),
                "actual": item.get("actual"),
                "evidence": item.get("evidence"),
                "waiver_expired": verdict.expired,
            }
        )
    return report
