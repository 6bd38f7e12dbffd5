"""The one harness that runs a module's ``main()`` as Ansible would and returns its result.

Like community.general's ``tests/unit/plugins/modules/helper.py``: the arguments are given the
``set_module_args`` way (:func:`ansible.module_utils.testing.patch_module_args`), the module
exits through ``exit_json``/``fail_json``, and the JSON it prints is the result returned (with
``failed: true`` after ``fail_json``). Tests patch what the module would ask the host first.
"""

from __future__ import annotations

import contextlib
import io
import json
from types import ModuleType
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args

# the keys of every finding (mspctl's finding schema)
FINDING_KEYS = {"policy", "control_id", "title", "status", "expected", "actual", "evidence"}


def run_module(
    module: ModuleType, args: dict[str, Any], *, check: bool = False, diff: bool = False
) -> dict[str, Any]:
    """``module.main()`` with ``args`` (and check/diff mode); its exit_json/fail_json result.

    The exit status must agree with the result: 0 after exit_json, 1 after fail_json.
    """
    out = io.StringIO()
    with (
        patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)),
        contextlib.redirect_stdout(out),
        pytest.raises(SystemExit) as exit_info,
    ):
        module.main()
    result: dict[str, Any] = json.loads(out.getvalue())
    assert exit_info.value.code == (1 if result.get("failed") else 0), result
    return result
