"""The run store on SQLite and on a real PostgreSQL: recording runs, the per-client run lock
across real processes, and the reconcile of runs whose process is gone."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from mspctl.store import KEPT_RESULT, Store, _keep_result, locks
from mspctl.store.models import Run, RunHost, RunLock, TaskRecord
from mspctl.store.queries import find_run

ROOT = Path(__file__).resolve().parents[2]


def make_run(
    run_id: str,
    *,
    pid: int | None = None,
    client: str = "acme",
    controller: str | None = None,
    folder: str = "/nonexistent",
) -> Run:
    return Run(
        id=run_id,
        client=client,
        tier="gold",
        contract_tier="gold",
        tier_source="contract",
        mode="apply",
        diff=False,
        user="tester",
        controller=controller or socket.gethostname(),
        started_at=dt.datetime.now(dt.UTC),
        status="running",
        policies=["assets"],
        engine="mitogen",
        artifacts_dir=folder,
        mspctl_version="test",
        pid=os.getpid() if pid is None else pid,
    )


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_add_and_finish_a_run(db_url):
    store = Store.open(db_url)
    store.add_run(make_run("r1"))
    store.finish_run(
        "r1",
        status="successful",
        rc=0,
        hosts=[RunHost(host="h1", ok=2, changed=1)],
        tasks=[TaskRecord(host="h1", task="t", action="debug", status="ok", changed=False)],
    )
    run = find_run(store, "r1")
    assert (run.status, run.rc, run.status_reason) == ("successful", 0, None)
    assert [(h.host, h.ok, h.changed) for h in run.hosts] == [("h1", 2, 1)]
    assert len(run.tasks) == 1


HOLDER = textwrap.dedent("""
    import sys, time
    from mspctl.store import Store, locks
    store = Store.open(sys.argv[1])
    locks.hold(store, "acme", sys.argv[2], "other-user")
    print("held", flush=True)
    time.sleep(120)
""")


def test_lock_is_refused_while_held_by_another_process_and_taken_over_when_it_dies(db_url):
    store = Store.open(db_url)  # migrated before the holder starts
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_url, "run-a"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        busy = locks.try_acquire(store, "acme", "run-b", "me")
        assert busy is not None
        assert (busy.run_id, busy.user, busy.pid) == ("run-a", "other-user", holder.pid)
        with pytest.raises(locks.Busy) as refused:
            locks.hold(store, "acme", "run-b", "me")
        assert refused.value.exit_code == 4
        assert refused.value.message.startswith("busy: run run-a by other-user since ")
        assert locks.try_acquire(store, "other-client", "run-c", "me") is None
    finally:
        holder.kill()
        holder.wait()
    assert not locks.process_alive(holder.pid)
    assert locks.try_acquire(store, "acme", "run-b", "me") is None  # stale: its process is gone
    with store.session() as session:
        assert session.get_one(RunLock, "acme").run_id == "run-b"


def test_lock_of_another_controller_is_stale_only_when_its_heartbeat_stops(db_url):
    store = Store.open(db_url)
    assert locks.try_acquire(store, "acme", "run-x", "me") is None
    with store.session() as session:
        session.execute(update(RunLock).values(controller="elsewhere", pid=1))
    assert locks.try_acquire(store, "acme", "run-y", "me") is not None  # fresh heartbeat
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=locks.STALE_AFTER_SECONDS + 5)
    with store.session() as session:
        session.execute(update(RunLock).values(heartbeat=old))
    assert locks.try_acquire(store, "acme", "run-y", "me") is None


def test_finishing_a_run_releases_its_lock(db_url):
    store = Store.open(db_url)
    locks.hold(store, "acme", "r1", "me")
    store.add_run(make_run("r1"))
    store.finish_run("r1", status="successful", rc=0, hosts=[], tasks=[])
    assert locks.try_acquire(store, "acme", "r2", "me") is None


def test_a_running_run_whose_process_is_gone_is_reconciled_as_aborted(db_url):
    store = Store.open(db_url)
    pid = dead_pid()
    store.add_run(make_run("gone", pid=pid))
    store.add_run(make_run("alive"))  # this very process: still running
    store.add_run(make_run("remote", controller="elsewhere", client="other"))
    reopened = Store.open(db_url)
    gone = find_run(reopened, "gone")
    assert gone.status == "aborted"
    assert gone.status_reason == f"process {pid} on {socket.gethostname()} is gone"
    assert gone.ended_at is not None
    assert find_run(reopened, "alive").status == "running"
    remote = find_run(reopened, "remote")  # no lock heartbeat from its controller
    assert remote.status == "aborted"
    assert "controller elsewhere stopped reporting" in (remote.status_reason or "")


def test_kept_results_are_recorded_by_the_next_open(db_url, tmp_path):
    store = Store.open(db_url)
    folder = tmp_path / "run-folder"
    folder.mkdir()
    store.add_run(make_run("kept", pid=dead_pid(), folder=str(folder)))
    _keep_result(
        folder,
        status="failed",
        rc=2,
        findings=[],
        assets={},
        ended_at=dt.datetime.now(dt.UTC),
        hosts=[RunHost(host="h1", ok=1, failed=1)],
        tasks=[
            TaskRecord(
                host="h1", task="t", action="debug", status="failed", changed=False, message="boom"
            )
        ],
    )
    assert stat.S_IMODE((folder / KEPT_RESULT).stat().st_mode) == 0o600
    run = find_run(Store.open(db_url), "kept")
    assert (run.status, run.rc) == ("failed", 2)
    assert "recorded late" in (run.status_reason or "")
    assert [t.message for t in run.tasks] == ["boom"]
    assert not (folder / KEPT_RESULT).exists()


def test_sqlite_store_is_private(tmp_path):
    home = tmp_path / "state" / "home"
    Store.open(f"sqlite:///{home / 'mspctl.db'}")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in home.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_process_alive_rejects_a_reused_pid():
    started = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    assert locks.process_alive(os.getpid())
    assert not locks.process_alive(os.getpid(), started)  # this process is younger
    assert not locks.process_alive(dead_pid())
    proc = subprocess.Popen(["sleep", "30"])
    try:
        assert locks.process_alive(proc.pid, dt.datetime.now(dt.UTC))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_the_heartbeat_of_a_held_lock_advances(db_url, monkeypatch):
    monkeypatch.setattr(locks, "HEARTBEAT_SECONDS", 0.2)
    store = Store.open(db_url)
    locks.hold(store, "acme", "beating", "me")
    with store.session() as session:
        first = session.get_one(RunLock, "acme").heartbeat
    time.sleep(1.5)
    with store.session() as session:
        later = session.get_one(RunLock, "acme").heartbeat
        locks.release(session, "beating")
    assert later > first


def _booking(client: str, start: dt.datetime, minutes: int) -> Any:
    from mspctl.store.models import MaintenanceBooking

    return MaintenanceBooking(
        client=client,
        start_at=start,
        start_local=f"{start:%Y-%m-%d %H:%M}",
        timezone="UTC",
        duration_seconds=minutes * 60,
        hosts="all",
        reason="upgrade",
        booked_by="tester",
        booked_at=dt.datetime.now(dt.UTC),
    )


def test_maintenance_bookings_refuse_overlaps_and_keep_cancellations(db_url):
    from mspctl.errors import BadInput
    from mspctl.store.queries import bookings

    store = Store.open(db_url)
    start = dt.datetime(2030, 6, 1, 20, 0, tzinfo=dt.UTC)
    first = store.add_booking(_booking("acme", start, 180))
    store.add_booking(_booking("other", start, 60))  # another client: no overlap
    store.add_booking(_booking("acme", start + dt.timedelta(hours=3), 60))  # adjacent
    with pytest.raises(BadInput, match=f"overlaps booking {first.id}"):
        store.add_booking(_booking("acme", start - dt.timedelta(hours=20), 21 * 60))
    assert [b.start_at for b in bookings(store, "acme")] == [
        start,
        start + dt.timedelta(hours=3),
    ]
    later = bookings(store, "acme", since=start + dt.timedelta(hours=3))
    assert [b.id for b in later] == [b.id for b in bookings(store, "acme")][1:]
    store.cancel_booking(first.id, dt.datetime.now(dt.UTC))
    with pytest.raises(BadInput, match="already cancelled"):
        store.cancel_booking(first.id, dt.datetime.now(dt.UTC))
    with pytest.raises(BadInput, match="unknown booking 999"):
        store.cancel_booking(999, dt.datetime.now(dt.UTC))
    assert len(bookings(store, "acme")) == 1
    assert len(bookings(store, "acme", cancelled=True)) == 2
    store.add_booking(_booking("acme", start, 60))  # the cancelled slot is free again


def _book_at_the_barrier(db_url: str, start: dt.datetime, barrier: Any, queue: Any) -> None:
    from mspctl.errors import BadInput

    store = Store.open(db_url, reconcile=False)
    barrier.wait()
    try:
        store.add_booking(_booking("acme", start, 120))
        queue.put("booked")
    except BadInput as exc:
        queue.put(f"refused: {exc.message}")


def test_overlapping_bookings_made_at_once_by_several_processes_one_wins(db_url):
    """Writers on several controllers (processes here) book the same slot at the same instant:
    exactly one booking is recorded, the others are refused naming it."""
    import multiprocessing

    from mspctl.store.queries import bookings

    Store.open(db_url)  # migrated once, before the race
    start = dt.datetime(2031, 3, 1, 20, 0, tzinfo=dt.UTC)
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(4), context.Queue()
    writers = [
        context.Process(
            target=_book_at_the_barrier,
            args=(db_url, start + dt.timedelta(minutes=10 * i), barrier, queue),
        )
        for i in range(4)
    ]
    for writer in writers:
        writer.start()
    try:
        outcomes = sorted(queue.get(timeout=60) for _ in writers)
    finally:
        for writer in writers:
            writer.join(timeout=30)
            if writer.is_alive():
                writer.kill()
                writer.join()
    assert outcomes[0] == "booked", outcomes
    assert all(o.startswith("refused: --start: overlaps booking") for o in outcomes[1:]), outcomes
    assert all(writer.exitcode == 0 for writer in writers)
    assert len(bookings(Store.open(db_url), "acme")) == 1
