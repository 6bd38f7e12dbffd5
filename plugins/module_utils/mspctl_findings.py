# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one schema of a compliance finding, shared by every mspctl status module.

A finding is ``{policy, control_id, title, status, expected, actual, evidence}`` with status
``pass``, ``fail`` or ``error``. Whether a failing control is *waived* is decided by mspctl on the
controller, never on the host. Modules return their findings under the ``findings`` key; mspctl
collects them from the run's structured events.

Usage in a module::

    from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import Findings

    findings = Findings("backup_agent")
    findings.check("backup_agent.snapshot_age", "Latest snapshot is recent enough",
                   ok=age <= max_age, expected="<= 26 h", actual="%d h" % age,
                   evidence={"snapshot": snap_id})
    module.exit_json(changed=False, findings=findings.as_list())
"""

from __future__ import annotations

from typing import Any

PASS = "pass"  # noqa: S105 - a finding's status, not a password
FAIL = "fail"
ERROR = "error"
STATUSES = (PASS, FAIL, ERROR)


def finding(
    policy: str,
    control_id: str,
    title: str,
    status: str,
    expected: Any = None,
    actual: Any = None,
    evidence: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if status not in STATUSES:
        raise ValueError(f"finding status must be one of {STATUSES}, got {status!r}")
    return {
        "policy": policy,
        "control_id": control_id,
        "title": title,
        "status": status,
        "expected": expected,
        "actual": actual,
        "evidence": evidence or {},
    }


class Findings:
    """Collects the findings of one policy, in the order they were evaluated."""

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self._items: list[dict[str, Any]] = []

    def add(
        self,
        control_id: str,
        title: str,
        status: str,
        expected: Any = None,
        actual: Any = None,
        evidence: dict[str, Any] | None = None,
    ) -> None:
        self._items.append(
            finding(self.policy, control_id, title, status, expected, actual, evidence)
        )

    def check(
        self,
        control_id: str,
        title: str,
        ok: bool,
        expected: Any = None,
        actual: Any = None,
        evidence: dict[str, Any] | None = None,
    ) -> None:
        """Record pass or fail from a boolean."""
        self.add(control_id, title, PASS if ok else FAIL, expected, actual, evidence)

    def error(
        self, control_id: str, title: str, message: Any, evidence: dict[str, Any] | None = None
    ) -> None:
        """The control could not be evaluated (a missing tool, an unreadable file...)."""
        self.add(control_id, title, ERROR, actual=message, evidence=evidence)

    def as_list(self) -> list[dict[str, Any]]:
        return list(self._items)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [f for f in self._items if f["status"] != PASS]
