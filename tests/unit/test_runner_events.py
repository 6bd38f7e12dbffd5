"""Task results read from ansible-runner's structured events (pure logic)."""

from __future__ import annotations

from mspctl.runner import _task_result


def _event(res):
    return {
        "host": "h1",
        "task": "Write files",
        "role": "backup_agent",
        "task_action": "ansible.builtin.template",
        "res": res,
    }


def test_diffs_of_a_loop_come_from_its_changed_items():
    res = {
        "changed": True,
        "results": [
            {
                "changed": True,
                "diff": [
                    {
                        "before": "a\n",
                        "after": "b\n",
                        "before_header": "/etc/x",
                        "after_header": "/etc/x",
                    }
                ],
            },
            {"changed": False, "diff": [{"before": "same", "after": "same"}]},
            {"changed": True, "censored": "the output has been hidden"},
        ],
    }
    result = _task_result("runner_on_ok", _event(res))
    assert result.status == "changed"
    assert [d["after_header"] for d in result.diff] == ["/etc/x"]


def test_a_task_diff_and_status():
    res = {"changed": False, "diff": {"before": "x", "after": "x"}}
    result = _task_result("runner_on_ok", _event(res))
    assert result.status == "ok" and not result.changed
    assert result.diff == [{"before": "x", "after": "x"}]
    failed = _task_result("runner_on_failed", {**_event({"msg": "boom"}), "ignore_errors": True})
    assert failed.status == "ignored" and failed.message == "boom"
