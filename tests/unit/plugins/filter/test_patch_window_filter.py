"""The ``mspctl.policy.patch_window`` filter: plugins/filter/patch_window.py over the engine
(plugins/module_utils/patch_window.py, tested in ../module_utils/test_patch_window.py).

(The file name differs from the module_utils test's: pytest imports test files by base name.)
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ansible_collections.mspctl.policy.plugins.filter import patch_window as plugin

BASE = {"days": ["sat"], "start": "22:00", "duration": "4h", "timezone": "Europe/Paris"}


class TestFilterPlugin:
    def test_registered_name_and_now_override(self) -> None:
        flt = plugin.FilterModule().filters()["patch_window"]
        status = flt(dict(BASE), "2026-03-07T21:30:00Z")
        assert (status["open"], status["now"]) == (True, "2026-03-07T21:30:00+00:00")

    def test_now_defaults_to_current_time(self) -> None:
        before = datetime.now(UTC)
        status = plugin.patch_window(dict(BASE))
        assert before <= datetime.fromisoformat(status["now"]) <= datetime.now(UTC)

    def test_errors_become_filter_errors(self) -> None:
        from ansible.errors import AnsibleFilterError

        with pytest.raises(AnsibleFilterError, match="invalid window: days: unknown day"):
            plugin.patch_window({**BASE, "days": ["someday"]})
        with pytest.raises(AnsibleFilterError, match=r"invalid now: .*no UTC offset"):
            plugin.patch_window(dict(BASE), "2026-03-07T21:30:00")
