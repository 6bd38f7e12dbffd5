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


def test_deprecations_come_from_results_items_and_printed_lines():
    from mspctl.runner import _deprecations, _without_repeats

    result = {
        "event": "runner_on_ok",
        "event_data": {
            "res": {
                "deprecations": [{"msg": "Option  x is\ndeprecated", "version": "2.23"}],
                "results": [{"deprecations": ["item says so"]}, "not a dict"],
            }
        },
        "stdout": "ok: [h1]\n[DEPRECATION WARNING]: Option x is deprecated. Removed in 2.23.",
    }
    printed = {
        "event": "verbose",
        "stdout": "[DEPRECATION WARNING]: Conditional result was a str.\n\nOrigin: /p/site.yml:4:7",
    }
    found = _deprecations(result) + _deprecations(printed) + _deprecations({"event": "x"})
    assert found == [
        "Option x is deprecated",
        "item says so",
        "Option x is deprecated. Removed in 2.23.",
        "Conditional result was a str. Origin: /p/site.yml:4:7",
    ]
    assert _without_repeats(dict.fromkeys(found)) == found[1:]
