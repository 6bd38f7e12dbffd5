"""The ``lab`` fixture: real Debian hosts for the whole test session.

Tests that need real hosts take the ``lab`` fixture and carry ``@pytest.mark.lab``. The lab is
``pytest-<pid>`` (3 hosts, ``MSPCTL_LAB_DISTRO`` or bookworm), so concurrent test runs never
share hosts; labs of killed test runs are removed first. Without root or the host tools the
lab tests are skipped with the reason, except under CI (``CI`` set), where that is an error.
Helpers (``Lab.ssh``, ``Lab.playbook``, ``remains``) live in ``tests/integration/lab_helpers.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from lab_helpers import Lab, remove_dead_test_labs, require_lab, test_lab_name

LAB_DISTRO = os.environ.get("MSPCTL_LAB_DISTRO", "bookworm")
LAB_HOSTS = 3


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A session-wide lab: ``lab.inventory``, ``lab.hosts`` (name, ip, groups), ``lab.ssh``."""
    require_lab()
    import mspctl.lab as domain

    remove_dead_test_labs()
    name = test_lab_name()
    domain.down(name)
    state = domain.up(name, LAB_HOSTS, LAB_DISTRO, tmp_path_factory.mktemp("lab-inventories"))
    try:
        yield Lab(state)
    finally:
        domain.down(name)
