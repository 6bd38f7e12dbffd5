"""The run store: every run, its per-host recap and per-task results (SQLAlchemy + Alembic).

SQLite by default; ``MSPCTL_DB_URL`` points at PostgreSQL or any SQLAlchemy URL. The schema is
brought to the newest Alembic revision when the store opens.

Nothing lost. Opening a store reconciles it (one indexed query for ``running`` runs): a run of
this controller whose mspctl process is gone is completed from the results it kept in its run
folder (``result.json``, written when the store stayed busy at the end of the run), else marked
``aborted`` with the reason; a run of another controller is aborted once its lock's heartbeat
stops. Store errors that are not mspctl's fault (locked, unreachable, timed out, read-only)
become one :class:`StoreUnavailable` line naming the store with its password hidden; writing a
run's end retries with backoff for three ``MSPCTL_DB_TIMEOUT`` before keeping the results.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mspctl.errors import BadInput, MspctlError, StoreUnavailable

if TYPE_CHECKING:
    import sqlite3

    from sqlalchemy.engine import Engine, ExceptionContext
    from sqlalchemy.orm import Session, sessionmaker

    from mspctl.store.models import (
        Incident,
        MaintenanceBooking,
        PatchEvent,
        Run,
        RunHost,
        TaskRecord,
    )
    from mspctl.store.queries import RunRow
    from mspctl.store.reading import Reader

MIGRATIONS = Path(__file__).parent / "migrations"
# the newest Alembic revision; a test checks it against the migration scripts. Opening a store
# already at this revision skips importing Alembic (a third of a command's start-up).
SCHEMA_HEAD = "0008"
KEPT_RESULT = "result.json"  # a run's results, in its run folder, when the store stayed busy


def alembic_config(connection: Any = None) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


# the schema's revision, and whether any run is still marked running: what opening a store
# checks before it migrates or reconciles (a store at the head with no running run needs
# neither, and is read without SQLAlchemy)
SCHEMA_REVISION = "SELECT version_num FROM alembic_version"
ANY_RUNNING = "SELECT 1 FROM runs WHERE status = 'running' LIMIT 1"


class Store:
    """The run store. Writes and the ORM reads go through a SQLAlchemy engine, built on first
    use; the read queries of :mod:`mspctl.store.queries` run on :meth:`reader`, which for a
    SQLite file is a plain ``sqlite3`` connection (SQLAlchemy is most of a read command's
    start-up)."""

    def __init__(self, url: str, timeout: float, *, sqlite_path: str | None = None) -> None:
        """A store of ``url``. A SQLite file's engine is built on first use (its reads need
        none); any other URL's now, so a bad URL is bad input when the store is opened."""
        self._url = url
        self._timeout = timeout
        self._sqlite_path = sqlite_path
        self._sqlite: sqlite3.Connection | None = None
        self._sqlite_lock = threading.RLock()
        self._engine: Engine | None = None
        self.name = url  # a SQLite URL carries no password
        if sqlite_path is None:
            self._engine = _make_engine(url, timeout)
            self.name = self._engine.url.render_as_string(hide_password=True)  # safe to show

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = _make_engine(self._url, self._timeout)
        return self._engine

    @cached_property
    def _sessions(self) -> sessionmaker[Session]:
        from sqlalchemy.orm import sessionmaker

        return sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, reconcile: bool = True) -> Store:
        """Connect (bounded by ``MSPCTL_DB_TIMEOUT``), migrate and reconcile the store. A new
        SQLite file is created 0600 in a 0700 directory."""
        from mspctl.config import db_timeout

        timeout = db_timeout()
        path = _sqlite_file(url)
        if path is not None and Path(path).is_file():
            _private_sqlite_file(path, url)
            store = cls(url, timeout, sqlite_path=path)
            if store._ready(reconcile):
                return store
        else:
            store = cls(url, timeout)
        store.migrate()
        if reconcile:
            store.reconcile()
        return store

    def _ready(self, reconcile: bool) -> bool:
        """A SQLite store at the schema's head with nothing to reconcile: read as it is."""
        import sqlite3

        connection = self._sqlite_connection()
        try:
            revision = [row[0] for row in connection.execute(SCHEMA_REVISION)]
            if revision != [SCHEMA_HEAD]:
                return False
            return not (reconcile and connection.execute(ANY_RUNNING).fetchone())
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return False  # a new store: the migrations create it
            raise StoreUnavailable(f"run store {self.name} unavailable: {exc}") from None

    def _sqlite_connection(self) -> sqlite3.Connection:
        import sqlite3

        if self._sqlite is None:
            assert self._sqlite_path is not None
            try:
                connection = sqlite3.connect(
                    self._sqlite_path, timeout=self._timeout, check_same_thread=False
                )
                for pragma in _pragmas(self._timeout):
                    connection.execute(pragma)
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"run store {self.name} unavailable: {exc}") from None
            self._sqlite = connection
        return self._sqlite

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """One consistent read of several queries (:mod:`mspctl.store.queries`)."""
        from mspctl.store.reading import Reader

        if self._sqlite_path is not None:
            connection = self._sqlite_connection()
            with self._sqlite_lock:  # one read at a time on the shared connection
                if connection.in_transaction:  # a read within a read: the same snapshot
                    yield Reader.of_sqlite(connection, self.name)
                    return
                connection.execute("BEGIN")
                try:
                    yield Reader.of_sqlite(connection, self.name)
                finally:
                    connection.rollback()
            return
        with self.session() as session:
            yield Reader.of_session(session)

    def migrate(self) -> None:
        from sqlalchemy import inspect, text

        with self.engine.connect() as connection:
            if inspect(connection).has_table("alembic_version"):
                current = connection.execute(text(SCHEMA_REVISION)).all()
                if [row[0] for row in current] == [SCHEMA_HEAD]:
                    return
        self._upgrade()

    def _upgrade(self) -> None:
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        try:
            with self.engine.begin() as connection:
                current = MigrationContext.configure(connection).get_current_heads()
                cfg = alembic_config(connection)
                head = ScriptDirectory.from_config(cfg).get_heads()
                if set(current) != set(head):
                    command.upgrade(cfg, "head")
        except Exception as exc:
            if isinstance(exc, MspctlError):
                raise
            raise MspctlError(f"cannot open the run store: {exc}") from None

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # -- reconciling --------------------------------------------------------------------------
    def reconcile(self) -> list[str]:
        """Complete the ``running`` runs whose process is gone: from their kept results, else
        as ``aborted`` with the reason. Returns their ids. Best effort: a busy store is
        reconciled by a later command."""
        from sqlalchemy import select

        from mspctl.store import locks
        from mspctl.store.models import Run, RunLock

        here = socket.gethostname()
        done: list[str] = []
        try:
            with self._sessions() as session:
                running = session.execute(
                    select(
                        Run.id, Run.pid, Run.controller, Run.started_at, Run.artifacts_dir
                    ).where(Run.status == "running")
                ).all()
                beats = (
                    {lock.run_id: lock.heartbeat for lock in session.scalars(select(RunLock))}
                    if running
                    else {}
                )
            now = dt.datetime.now(dt.UTC)
            for run_id, pid, controller, started, folder in running:
                if controller == here:
                    if locks.process_alive(pid, started):
                        continue
                    kept = Path(folder) / KEPT_RESULT
                    if kept.is_file():
                        self._record_kept(run_id, kept)
                        done.append(run_id)
                        continue
                    reason = (
                        f"process {pid} on {here} is gone"
                        if pid
                        else f"its process on {here} is gone (no pid recorded)"
                    )
                    _end_leftover_processes(run_id)
                else:
                    beat = beats.get(run_id)
                    if (
                        beat is not None
                        and (now - beat).total_seconds() <= locks.STALE_AFTER_SECONDS
                    ):
                        continue
                    reason = f"controller {controller} stopped reporting (no lock heartbeat)"
                if self._abort(run_id, reason):
                    done.append(run_id)
        except StoreUnavailable:
            pass
        return done

    def _abort(self, run_id: str, reason: str) -> bool:
        from sqlalchemy import update

        from mspctl.store import locks
        from mspctl.store.models import Run

        with self.session() as session:
            changed = session.execute(
                update(Run)
                .where(Run.id == run_id, Run.status == "running")
                .values(status="aborted", status_reason=reason, ended_at=dt.datetime.now(dt.UTC))
                .execution_options(synchronize_session=False)
            )
            locks.release(session, run_id)
        return bool(getattr(changed, "rowcount", 0))

    def _record_kept(self, run_id: str, kept: Path) -> None:
        from mspctl.store.models import RunHost, TaskRecord

        data = json.loads(kept.read_text(encoding="utf-8"))
        self._finish(
            run_id,
            status=data["status"],
            rc=data["rc"],
            hosts=[RunHost(**row) for row in data["hosts"]],
            tasks=[TaskRecord(**row) for row in data["tasks"]],
            findings=data["findings"],
            assets=data["assets"],
            reason=f"recorded late from {kept.name}: the store was busy when the run ended",
            ended_at=dt.datetime.fromisoformat(data["ended_at"]),
        )
        kept.rename(kept.with_suffix(".recorded.json"))

    # -- writing ----------------------------------------------------------------------------
    def add_run(self, run: Run) -> None:
        """Record a starting run; it gets the next sequence number (retried on a race)."""
        from sqlalchemy import func, select
        from sqlalchemy.exc import IntegrityError

        from mspctl.store.models import Run

        for _attempt in range(20):
            try:
                with self.session() as session:
                    run.seq = (session.scalar(select(func.max(Run.seq))) or 0) + 1
                    session.add(run)
                return
            except IntegrityError:
                continue
        raise MspctlError("cannot allocate a run sequence number (store busy)")

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        rc: int | None,
        hosts: Sequence[RunHost],
        tasks: Sequence[TaskRecord],
        findings: Sequence[dict[str, Any]] = (),
        assets: dict[str, dict[str, Any]] | None = None,
        keep_in: Path | None = None,
        reason: str | None = None,
    ) -> Run:
        """Complete a run with its recap, task results, findings and asset records, at once,
        and release its client's lock. A busy store is retried with backoff for three
        ``MSPCTL_DB_TIMEOUT``; then the results are kept in ``keep_in/result.json`` (recorded
        by the next command that opens the store) and :class:`StoreUnavailable` says so."""
        from mspctl.config import db_timeout

        deadline = time.monotonic() + 3 * db_timeout()
        delay = 0.5
        ended = dt.datetime.now(dt.UTC)
        while True:
            try:
                return self._finish(
                    run_id,
                    status=status,
                    rc=rc,
                    hosts=hosts,
                    tasks=tasks,
                    findings=findings,
                    assets=assets,
                    ended_at=ended,
                    reason=reason,
                )
            except StoreUnavailable as exc:
                if time.monotonic() + delay < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 4.0)
                    continue
                if keep_in is None:
                    raise
                kept = _keep_result(
                    keep_in,
                    status=status,
                    rc=rc,
                    hosts=hosts,
                    tasks=tasks,
                    findings=findings,
                    assets=assets,
                    ended_at=ended,
                )
                raise StoreUnavailable(
                    f"{exc.message}; the results of run {run_id} are kept in {kept} and the "
                    "next mspctl command records them"
                ) from None

    def add_booking(self, booking: MaintenanceBooking) -> MaintenanceBooking:
        """Record a maintenance booking unless it overlaps a non-cancelled booking of the same
        client (bad input, nothing recorded). Returns it with its id."""
        from mspctl.store.queries import overlapping_booking

        with self.session() as session:
            _serialise_bookings(session, booking.client)
            clash = overlapping_booking(session, booking)
            if clash is not None:
                raise BadInput(
                    f"overlaps booking {clash.id} of {clash.client} ({clash.start_local} "
                    f"{clash.timezone}, {clash.duration_seconds // 60} min: {clash.reason})",
                    key="--start",
                )
            session.add(booking)
            session.flush()
            return booking

    def add_patch_events(self, events: Sequence[PatchEvent]) -> None:
        """Record a fleet run's missed windows and catch-ups in one transaction."""
        with self.session() as session:
            session.add_all(events)

    def cancel_booking(self, booking_id: int, now: dt.datetime) -> MaintenanceBooking:
        """Cancel a booking (kept, with its cancellation time). Unknown or already cancelled:
        bad input."""
        from mspctl.store.models import MaintenanceBooking

        with self.session() as session:
            booking = session.get(MaintenanceBooking, booking_id)
            if booking is None:
                raise BadInput(f"unknown booking {booking_id}")
            if booking.cancelled_at is not None:
                raise BadInput(
                    f"booking {booking_id} was already cancelled at "
                    f"{booking.cancelled_at:%Y-%m-%d %H:%M} UTC"
                )
            booking.cancelled_at = now
            return booking

    # -- incidents ---------------------------------------------------------------------------
    def record_firing(self, incident: Incident) -> tuple[Incident, bool]:
        """Open ``incident`` unless an incident with its fingerprint is still open: then that
        one counts a repeat (``repeats``, ``last_seen_at``). Returns the row and whether it was
        opened. Two receivers racing on one fingerprint: the partial unique index lets one
        insert win, the other retries as a repeat."""
        from sqlalchemy.exc import IntegrityError

        for attempt in range(2):
            try:
                with self.session() as session:
                    row = _open_incident(session, incident.fingerprint)
                    if row is not None:
                        row.repeats += 1
                        row.last_seen_at = incident.received_at
                        return row, False
                    fresh = _copy(incident)
                    session.add(fresh)
                    session.flush()
                    return fresh, True
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def record_resolved(self, fingerprint: str, at: dt.datetime) -> Incident | None:
        """Close the open incident of ``fingerprint`` (Alertmanager sent it resolved at
        ``at``); None if none is open (resolved before mspctl saw it fire, or already)."""
        with self.session() as session:
            row = _open_incident(session, fingerprint)
            if row is not None:
                row.status = "resolved"
                row.resolved_at = at
                row.resolved_by = "alertmanager"
            return row

    def ack_incident(
        self, incident_id: int, by: str, at: dt.datetime, note: str | None = None
    ) -> Incident:
        """The first response to an incident: who and when. Unknown, already acknowledged or
        resolved: bad input, nothing recorded."""
        with self.session() as session:
            row = _incident_for_update(session, incident_id)
            if row.acked_at is not None:
                raise BadInput(
                    f"incident {incident_id} was already acknowledged by {row.acked_by} at "
                    f"{row.acked_at:%Y-%m-%d %H:%M} UTC"
                )
            row.acked_at, row.acked_by, row.ack_note = at, by, note
            row.status = "acked"
            return row

    def resolve_incident(self, incident_id: int, by: str, at: dt.datetime) -> Incident:
        """Close an incident by hand (the alert's resolution closes it too). Unknown or already
        resolved: bad input, nothing recorded."""
        with self.session() as session:
            row = _incident_for_update(session, incident_id)
            row.status, row.resolved_at, row.resolved_by = "resolved", at, by
            return row

    def _finish(
        self,
        run_id: str,
        *,
        status: str,
        rc: int | None,
        hosts: Sequence[RunHost],
        tasks: Sequence[TaskRecord],
        findings: Sequence[dict[str, Any]],
        assets: dict[str, dict[str, Any]] | None,
        ended_at: dt.datetime,
        reason: str | None = None,
    ) -> Run:
        from mspctl.store import locks
        from mspctl.store.models import Run

        with self.session() as session:
            run = session.get_one(Run, run_id)
            if run.status != "running":  # already reconciled by another process
                return run
            run.status = status
            run.rc = rc
            run.ended_at = ended_at
            run.status_reason = reason
            run.hosts.extend(_copy(h) for h in hosts)
            run.tasks.extend(_copy(t) for t in tasks)
            session.flush()
            _record_findings(session, run, findings)
            _record_assets(session, run, assets or {})
            locks.release(session, run_id)
            return run


def _record_findings(session: Session, run: Run, findings: Sequence[dict[str, Any]]) -> None:
    """Write the changes of control states, and refresh the current states."""
    from sqlalchemy import select

    from mspctl.store.models import ControlState, Finding

    states = {
        (s.host, s.control_id): s
        for s in session.scalars(select(ControlState).where(ControlState.client == run.client))
    }
    seen: set[tuple[str, str]] = set()
    reported_policies: set[tuple[str, str]] = set()
    for item in findings:
        key = (item["host"], item["control_id"])
        if key in seen:
            continue
        seen.add(key)
        reported_policies.add((item["host"], item["policy"]))
        state = states.get(key)
        previous = state.status if state is not None else None
        if previous != item["status"]:
            session.add(
                Finding(
                    client=run.client,
                    host=item["host"],
                    control_id=item["control_id"],
                    run_seq=run.seq,
                    run_id=run.id,
                    policy=item["policy"],
                    status=item["status"],
                    previous_status=previous,
                    title=item["title"],
                    expected=item.get("expected"),
                    actual=item.get("actual"),
                    evidence=item.get("evidence") or {},
                )
            )
        if state is None:
            state = ControlState(
                client=run.client,
                host=item["host"],
                control_id=item["control_id"],
                since_run_seq=run.seq,
            )
            session.add(state)
        elif previous != item["status"]:
            state.since_run_seq = run.seq
        state.policy = item["policy"]
        state.status = item["status"]
        state.title = item["title"]
        state.expected = item.get("expected")
        state.actual = item.get("actual")
        state.evidence = item.get("evidence") or {}
        state.last_run_seq = run.seq
    if run.status not in ("successful", "failed"):
        return
    # a run retires the controls it no longer reports: those of a policy a host reported on
    # (a control removed from the tier), and, for a run of the whole client, every control of
    # a host that left the inventory
    run_hosts = {h.host for h in run.hosts}
    for key, state in states.items():
        if key in seen or state.status == "absent":
            continue
        host_left = run.full and run.status == "successful" and state.host not in run_hosts
        if (state.host, state.policy) in reported_policies or host_left:
            session.add(
                Finding(
                    client=run.client,
                    host=state.host,
                    control_id=state.control_id,
                    run_seq=run.seq,
                    run_id=run.id,
                    policy=state.policy,
                    status="absent",
                    previous_status=state.status,
                    title=state.title,
                    evidence={},
                )
            )
            state.status = "absent"
            state.since_run_seq = state.last_run_seq = run.seq


def _record_assets(session: Session, run: Run, assets: dict[str, dict[str, Any]]) -> None:
    import hashlib
    import json

    from sqlalchemy import select

    from mspctl.store.models import AssetRecord

    for host, record in sorted(assets.items()):
        digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
        last = session.scalars(
            select(AssetRecord.digest)
            .where(AssetRecord.client == run.client, AssetRecord.host == host)
            .order_by(AssetRecord.run_seq.desc())
            .limit(1)
        ).first()
        if last != digest:
            session.add(
                AssetRecord(
                    client=run.client,
                    host=host,
                    run_seq=run.seq,
                    run_id=run.id,
                    digest=digest,
                    record=record,
                )
            )


def _make_engine(url: str, timeout: float) -> Engine:
    """The SQLAlchemy engine of a store URL (bad input if the URL is not one)."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url

    from mspctl.config import hide_password

    try:
        parsed = make_url(url)
        connect_args: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            _private_sqlite_file(parsed.database, hide_password(url))
            connect_args = {"timeout": timeout}
        elif parsed.get_backend_name() == "postgresql":
            connect_args = {"connect_timeout": max(1, math.ceil(timeout))}
        engine = create_engine(parsed, connect_args=connect_args)
    except MspctlError:
        raise
    except Exception as exc:  # any URL problem is bad input
        raise BadInput(
            f"invalid database URL {hide_password(url)} ({type(exc).__name__})",
            key="MSPCTL_DB_URL",
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(timeout))
    event.listen(engine, "handle_error", _unavailable(engine.url.render_as_string()))
    return engine


def _sqlite_file(url: str) -> str | None:
    """The file of a plain SQLite URL (``sqlite:///relative`` or ``sqlite:////absolute``, no
    driver, no query); None for any other URL (SQLAlchemy parses those)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = url[len(prefix) :]
    return path if path and path != ":memory:" and not path.startswith("file:") else None


def _pragmas(timeout: float) -> tuple[str, ...]:
    return (
        "PRAGMA journal_mode=WAL",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={int(timeout * 1000)}",
    )


def _sqlite_pragmas(timeout: float) -> Callable[[Any, Any], None]:
    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in _pragmas(timeout):
            cursor.execute(pragma)
        cursor.close()

    return pragmas


def _unavailable(name: str) -> Callable[[ExceptionContext], None]:
    """Turn the database's operational errors (locked, unreachable, timed out, read-only)
    into one line naming the store, password hidden; bugs keep their traceback."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    def handle(context: ExceptionContext) -> None:
        error = context.sqlalchemy_exception
        if isinstance(error, OperationalError | InterfaceError) or context.is_disconnect:
            detail = str(context.original_exception).strip().splitlines() or ["no detail"]
            raise StoreUnavailable(f"run store {name} unavailable: {detail[0]}") from None

    return handle


def _private_sqlite_file(database: str | None, shown: str) -> None:
    """The SQLite file 0600 (journal and WAL files inherit its mode) in a 0700 directory."""
    from mspctl.config import private_dir

    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        if not path.parent.exists():
            private_dir(path.parent)
        if not os.access(path.parent, os.W_OK):  # also true for root on a read-only mount
            raise PermissionError(errno.EROFS, "read-only or not writable", str(path.parent))
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if part.exists() and part.stat().st_uid == os.getuid() and part.stat().st_mode & 0o077:
                part.chmod(0o600)
    except OSError as exc:
        raise StoreUnavailable(
            f"cannot write the run store {shown}: {exc.filename} is {exc.strerror}"
        ) from None


def _lock_incidents(session: Session) -> None:
    """SQLite reads outside a transaction until the first write: a write statement (matching no
    row) takes the database's write lock first, so a read-check-write of an incident (a repeat
    counted, an ack) is one step for every writer. PostgreSQL locks the row (FOR UPDATE)."""
    from sqlalchemy import text

    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE incidents SET id = id WHERE 0 = 1"))


def _open_incident(session: Session, fingerprint: str) -> Incident | None:
    from sqlalchemy import select

    from mspctl.store.models import Incident

    _lock_incidents(session)
    return session.scalars(
        select(Incident)
        .where(Incident.fingerprint == fingerprint, Incident.resolved_at.is_(None))
        .with_for_update()
    ).one_or_none()


def _incident_for_update(session: Session, incident_id: int) -> Incident:
    from mspctl.store.models import Incident

    _lock_incidents(session)
    row = session.get(Incident, incident_id, with_for_update=True)
    if row is None:
        raise BadInput(f"unknown incident {incident_id}")
    if row.resolved_at is not None:
        raise BadInput(
            f"incident {incident_id} was resolved at {row.resolved_at:%Y-%m-%d %H:%M} UTC "
            f"by {row.resolved_by}"
        )
    return row


def _copy(row: Any) -> Any:
    """A fresh row with the same column values (a retry must not reuse a rolled-back one)."""
    return type(row)(**_columns(row))


def _columns(row: Any) -> dict[str, Any]:
    return {
        c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in ("id", "run_id")
    }


def _keep_result(
    folder: Path,
    *,
    ended_at: dt.datetime,
    hosts: Sequence[RunHost],
    tasks: Sequence[TaskRecord],
    **data: Any,
) -> Path:
    """Write the run's results (already masked) to its run folder, 0600."""
    target = folder / KEPT_RESULT
    payload = {
        **data,
        "ended_at": ended_at.isoformat(),
        "hosts": [_columns(h) for h in hosts],
        "tasks": [_columns(t) for t in tasks],
    }
    fd = os.open(target, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(payload, out, default=str)
    return target


def _end_leftover_processes(run_id: str) -> None:
    """Processes of a dead run that outlived it (its mspctl was SIGKILLed)."""
    from mspctl.runner import end_run_processes

    end_run_processes(run_id, grace=2.0)


def run_as_dict(run: Run | RunRow, *, tasks: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": run.id,
        "seq": run.seq,
        "client": run.client,
        "tier": run.tier,
        "contract_tier": run.contract_tier,
        "tier_source": run.tier_source,
        "mode": run.mode,
        "diff": run.diff,
        "user": run.user,
        "controller": run.controller,
        "engine": run.engine,
        "started_at": run.started_at.isoformat(),
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "status": run.status,
        "status_reason": run.status_reason,
        "node": run.node,
        "pid": run.pid,
        "rc": run.rc,
        "limit": run.limit,
        "policies": run.policies,
        "artifacts_dir": run.artifacts_dir,
        "mspctl_version": run.mspctl_version,
        "full": run.full,
        "fingerprints": run.fingerprints,
        "hosts": {
            h.host: {
                "ok": h.ok,
                "changed": h.changed,
                "failed": h.failed,
                "unreachable": h.unreachable,
                "skipped": h.skipped,
                "rescued": h.rescued,
                "ignored": h.ignored,
            }
            for h in run.hosts
        },
    }
    if tasks:
        data["tasks"] = [
            {
                "host": t.host,
                "policy": t.policy,
                "role": t.role,
                "task": t.task,
                "action": t.action,
                "status": t.status,
                "changed": t.changed,
                "message": t.message,
                "diff_summary": t.diff_summary,
            }
            for t in run.tasks  # type: ignore[union-attr]  # an ORM run (find_run) has them
        ]
    return data


def _serialise_bookings(session: Session, client: str) -> None:
    """Make the overlap check and the insert of a client's booking one step for every writer,
    on every controller: two overlapping bookings made at the same instant cannot both pass the
    check. PostgreSQL: a transaction-scoped advisory lock keyed by the client (released at
    commit; a booking names no holder, so the run lock's reasons against advisory locks do not
    apply). SQLite: a write statement (matching no row) takes the database's write lock before
    the check reads."""
    from sqlalchemy import text

    if session.get_bind().dialect.name == "postgresql":
        key = f"mspctl.maintenance_bookings:{client}"
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
    else:
        session.execute(text("UPDATE maintenance_bookings SET id = id WHERE 0 = 1"))
