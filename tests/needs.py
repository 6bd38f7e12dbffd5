"""What a test needs from the machine: without it the test is skipped with the reason, except
under CI (``CI`` set, as ``.ci/run`` does), where a missing part is a failure, never a skip."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test: {reason}", pytrace=False)
    pytest.skip(reason)
