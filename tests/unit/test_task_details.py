"""``results.task_details``: the figures a report keeps from a task's result."""

from __future__ import annotations

from mspctl.results import task_details
from mspctl.runner import TaskResult


def task(action: str, changed: bool, result: dict) -> TaskResult:
    return TaskResult(
        host="h", task="t", role="patching", action=action, status="changed" if changed else "ok",
        changed=changed, message=None, diff=[], result=result,
    )  # fmt: skip


def test_a_patch_run_keeps_its_upgrades_by_kind_and_nothing_else():
    kinds = {"plan": {"packages": {"a": ["1", "2"]}, "kinds": {"security": 2, "other": 1}}}
    assert task_details(task("mspctl.policy.apt_upgrade", True, kinds)) == {
        "upgraded": {"security": 2, "other": 1}
    }
    assert task_details(task("mspctl.policy.apt_upgrade", False, kinds)) is None  # nothing ran
    assert task_details(task("ansible.builtin.copy", True, kinds)) is None
    assert task_details(task("mspctl.policy.apt_upgrade", True, {"plan": {}})) is None
    hidden = {**kinds, "_ansible_no_log": True}
    assert task_details(task("mspctl.policy.apt_upgrade", True, hidden)) is None
