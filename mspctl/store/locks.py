"""The per-client run lock: one run of a client at a time, across processes and controllers.

Mechanism. A row per client in ``run_locks`` whose primary key is the client: taking the lock is
an INSERT, which the database lets exactly one writer win (SQLite and PostgreSQL alike; a second
controller sharing a PostgreSQL store meets the same key). The row names its holder — run id,
pid, controller, user, since — and carries a heartbeat that a daemon thread refreshes every
``HEARTBEAT_SECONDS``. A lock is *stale*, and is taken over by a compare-and-swap UPDATE (only
if the row still names the holder that was judged stale, so two takers cannot both win), when:

- the holder's run is no longer ``running`` in the store (it finished; the row was left behind);
- the holder ran on this controller and its process is gone (checked by pid *and* start time, so
  a reused pid does not keep a dead lock alive) — an mspctl killed by SIGKILL frees its client at
  once;
- the holder ran on another controller and its heartbeat is older than ``STALE_AFTER_SECONDS``
  (a controller that crashed or lost the network frees the client after two minutes).

The lock is released in the transaction that completes the run (:meth:`Store.finish_run`), so a
recorded run never leaves its client locked. Filesystem locks (flock) were rejected: they do not
reach a second controller sharing a PostgreSQL store. PostgreSQL advisory locks were rejected:
SQLite has none, and they cannot name the holder for the ``busy`` line.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from mspctl.errors import ExitCode, MspctlError, StoreUnavailable
from mspctl.store.models import Run, RunLock

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mspctl.store import Store

HEARTBEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 120.0
WAIT_POLL_SECONDS = 1.0
_beating: dict[str, threading.Event] = {}  # run id -> stops its heartbeat thread


@dataclass(frozen=True)
class Holder:
    run_id: str
    pid: int
    controller: str
    user: str
    since: dt.datetime

    def describe(self) -> str:
        return f"run {self.run_id} by {self.user} since {self.since:%Y-%m-%d %H:%M:%S} UTC"


class Busy(MspctlError):
    """Another run of the client holds the lock (exit 4)."""

    exit_code = ExitCode.BUSY

    def __init__(self, holder: Holder) -> None:
        super().__init__(f"busy: {holder.describe()}")
        self.holder = holder


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def process_alive(pid: int | None, started_before: dt.datetime | None = None) -> bool:
    """Whether process ``pid`` of this machine exists (not a zombie) and, when given, started
    no later than ``started_before`` (else the pid was reused by a newer process)."""
    from mspctl.lab._system import pid_alive

    if not pid or pid <= 0 or not pid_alive(pid):
        return False
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True  # no /proc: trust kill(0)
    if started_before is None:
        return True
    started = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started <= started_before.timestamp() + 2


def _stale(session: Session, lock: RunLock, now: dt.datetime) -> bool:
    status = session.scalar(select(Run.status).where(Run.id == lock.run_id))
    if status is not None and status != "running":
        return True
    if lock.controller == socket.gethostname():
        return not process_alive(lock.pid, lock.since)
    return (now - lock.heartbeat).total_seconds() > STALE_AFTER_SECONDS


def try_acquire(store: Store, client: str, run_id: str, user: str) -> Holder | None:
    """Take the client's lock for ``run_id``; returns None when taken, else the live holder."""
    for _attempt in range(10):
        now = dt.datetime.now(dt.UTC)
        mine = {
            "run_id": run_id,
            "pid": os.getpid(),
            "controller": socket.gethostname(),
            "user": user,
            "since": now,
            "heartbeat": now,
        }
        try:
            with store.session() as session:
                lock = session.get(RunLock, client)
                if lock is None:
                    session.add(RunLock(client=client, **mine))
                    return None
                if not _stale(session, lock, now):
                    return Holder(lock.run_id, lock.pid, lock.controller, lock.user, lock.since)
                taken = session.execute(
                    update(RunLock)
                    .where(RunLock.client == client, RunLock.run_id == lock.run_id)
                    .values(**mine)
                    .execution_options(synchronize_session=False)
                )
                if getattr(taken, "rowcount", 0) == 1:
                    return None
        except IntegrityError:
            pass  # another process inserted first: look again
    raise StoreUnavailable(f"cannot take the run lock of {client} (store contended)")


def hold(
    store: Store,
    client: str,
    run_id: str,
    user: str,
    *,
    wait: bool = False,
    on_wait: Callable[[Holder], None] | None = None,
) -> None:
    """Take the lock or raise :class:`Busy`; with ``wait``, poll until it is free. Starts the
    heartbeat; :func:`release` (called by ``finish_run``) ends it."""
    told = False
    while (holder := try_acquire(store, client, run_id, user)) is not None:
        if not wait:
            raise Busy(holder)
        if on_wait is not None and not told:
            on_wait(holder)
            told = True
        time.sleep(WAIT_POLL_SECONDS)
    stop = threading.Event()
    _beating[run_id] = stop
    threading.Thread(
        target=_heartbeat,
        args=(store, client, run_id, stop),
        name=f"mspctl-lock-{client}",
        daemon=True,
    ).start()


def _heartbeat(store: Store, client: str, run_id: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            with store.session() as session:
                done = session.execute(
                    update(RunLock)
                    .where(RunLock.client == client, RunLock.run_id == run_id)
                    .values(heartbeat=dt.datetime.now(dt.UTC))
                    .execution_options(synchronize_session=False)
                )
            if getattr(done, "rowcount", 1) == 0:
                return  # released or taken over
        except Exception:  # noqa: S112 - a busy store skips a beat; the next one retries
            continue


def release(session: Session, run_id: str) -> None:
    """Free the lock held by ``run_id`` (in the caller's transaction) and stop its heartbeat."""
    session.execute(
        delete(RunLock).where(RunLock.run_id == run_id).execution_options(synchronize_session=False)
    )
    stop = _beating.pop(run_id, None)
    if stop is not None:
        stop.set()


def holder_of(session: Session, run_id: str) -> RunLock | None:
    return session.scalars(select(RunLock).where(RunLock.run_id == run_id)).first()
