"""Interrupts end the whole process tree of a run, with every engine, and are recorded."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

ENGINES = ("mitogen", "tuned", "stock")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("engine", ENGINES)
def test_interrupt_ends_every_process_and_records_aborted(slow, engine, signum):
    proc = slow.start("apply", "demo", "--json", "--engine", engine)
    slow.wait_first_task(proc)
    assert slow.survivors(), "the run's processes are not visible to the check"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert json.loads(out)["status"] == "aborted"
    left = slow.end_all()
    assert not left, f"{engine}: processes survived {signum.name}: {left}"
    (run,) = slow.runs()
    assert run["status"] == "aborted"


@pytest.mark.parametrize("engine", ENGINES)
def test_sigkill_of_mspctl_leaves_no_process_and_the_run_is_reconciled(slow, engine):
    proc = slow.start("apply", "demo", "--json", "--engine", engine)
    slow.wait_first_task(proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 15  # the guard gets SIGTERM from PR_SET_PDEATHSIG
    while slow.survivors() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not slow.survivors(), "the guard did not end the run's processes"
    (run,) = slow.runs()  # opening the store reconciles the run
    assert run["status"] == "aborted"
    assert run["status_reason"].startswith(f"process {proc.pid} on ")
    assert run["status_reason"].endswith(" is gone")
    shown = slow.run("runs", "show", run["id"])  # the table says why, too
    assert f"why aborted: process {proc.pid} on " in shown.stdout, shown.stdout
    left = slow.end_all()
    assert not left, f"processes survived SIGKILL of mspctl: {left}"
    second = slow.run("apply", "demo", "--json", "--limit", "nomatch")  # the lock is free again
    assert second.returncode == 3, second.stderr  # (bad input: the limit matches no host)
