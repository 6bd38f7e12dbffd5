"""Fixtures of the network tests: a real fake-switches process per test, stopped by PID."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeswitch import FakeSwitch, start

COLLECTIONS = str(Path(__file__).resolve().parents[2] / "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


@pytest.fixture
def switch(tmp_path: Path) -> Iterator[FakeSwitch]:
    device = start("sw1", log=tmp_path / "fake-switches.log")
    try:
        yield device
    finally:
        device.stop()
        assert not device.alive(), f"fake-switches {device.pid} still runs"
        assert not Path(f"/proc/{device.pid}").exists() or device.process.returncode is not None
