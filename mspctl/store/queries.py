"""Every read of the run store. Writes are :class:`mspctl.store.Store` methods.

Functions taking a ``Session`` (or a :class:`~mspctl.store.reading.Reader`) run inside the
caller's unit of work (one consistent read of several queries); functions taking the ``Store``
open their own. The reads of the everyday commands (runs, control states, assets, the fleet)
are plain SQL that runs on SQLite and PostgreSQL alike, through :mod:`mspctl.store.reading`:
on a SQLite store without importing SQLAlchemy, a good part of a read command's start-up. The
others use the ORM (SQLAlchemy loads on their first call).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mspctl.errors import BadInput

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mspctl.store import Store
    from mspctl.store.models import (
        AssetRecord,
        ControlState,
        Incident,
        MaintenanceBooking,
        PatchEvent,
        Run,
    )
    from mspctl.store.reading import Reader

    # what the plain-SQL reads run on: the caller's ORM session, or a store's reader
    DB = Session | Reader

COMPLETED = ("successful", "failed")
FAILING = ("fail", "error")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# -- maintenance bookings --------------------------------------------------------------------
# a booking lasts at most this long: bookings that may still be open at an instant started
# less than this before it (an indexed range on start_at, the end is checked in Python)
MAX_BOOKING = dt.timedelta(hours=24)


def _booking_end(booking: MaintenanceBooking) -> dt.datetime:
    return booking.start_at + dt.timedelta(seconds=booking.duration_seconds)


def bookings(
    store: Store,
    client: str | None = None,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    cancelled: bool = False,
) -> list[MaintenanceBooking]:
    """Maintenance bookings by start, optionally of one client, still open at ``since`` (not
    ended), starting before ``until``, and with the cancelled ones only if ``cancelled``."""
    from sqlalchemy import select

    from mspctl.store.models import MaintenanceBooking

    query = select(MaintenanceBooking)
    if client:
        query = query.where(MaintenanceBooking.client == client)
    if not cancelled:
        query = query.where(MaintenanceBooking.cancelled_at.is_(None))
    if since is not None:
        query = query.where(MaintenanceBooking.start_at > since - MAX_BOOKING)
    if until is not None:
        query = query.where(MaintenanceBooking.start_at < until)
    query = query.order_by(MaintenanceBooking.start_at, MaintenanceBooking.id)
    with store.session() as session:
        rows = list(session.scalars(query))
    return [b for b in rows if since is None or _booking_end(b) > since]


def overlapping_booking(session: Session, booking: MaintenanceBooking) -> MaintenanceBooking | None:
    """A non-cancelled booking of the same client whose time overlaps ``booking``'s."""
    from sqlalchemy import select

    from mspctl.store.models import MaintenanceBooking

    end = _booking_end(booking)
    candidates = session.scalars(
        select(MaintenanceBooking)
        .where(
            MaintenanceBooking.client == booking.client,
            MaintenanceBooking.cancelled_at.is_(None),
            MaintenanceBooking.start_at > booking.start_at - MAX_BOOKING,
            MaintenanceBooking.start_at < end,
        )
        .order_by(MaintenanceBooking.start_at)
    )
    return next((b for b in candidates if _booking_end(b) > booking.start_at), None)


# -- missed patch windows -------------------------------------------------------------------


def open_misses(store: Store, client: str) -> dict[str, list[PatchEvent]]:
    """The client's missed patch windows that no patch has caught up yet, by host (oldest
    first)."""
    from sqlalchemy import select

    from mspctl.store.models import PatchEvent

    closed = select(PatchEvent.missed_id).where(
        PatchEvent.client == client, PatchEvent.kind == "caught_up"
    )
    query = (
        select(PatchEvent)
        .where(
            PatchEvent.client == client,
            PatchEvent.kind == "missed",
            PatchEvent.id.not_in(closed.where(PatchEvent.missed_id.is_not(None))),
        )
        .order_by(PatchEvent.at, PatchEvent.id)
    )
    out: dict[str, list[PatchEvent]] = defaultdict(list)
    with store.session() as session:
        for event in session.scalars(query):
            out[event.host].append(event)
    return dict(out)


def patch_events(
    store: Store,
    client: str | None = None,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[PatchEvent]:
    """Missed windows and catch-ups, oldest first, optionally of one client and with ``at`` in
    ``[since, until)``."""
    from sqlalchemy import select

    from mspctl.store.models import PatchEvent

    query = select(PatchEvent)
    if client:
        query = query.where(PatchEvent.client == client)
    if since is not None:
        query = query.where(PatchEvent.at >= since)
    if until is not None:
        query = query.where(PatchEvent.at < until)
    with store.session() as session:
        return list(session.scalars(query.order_by(PatchEvent.at, PatchEvent.id)))


# -- incidents -------------------------------------------------------------------------------
def incidents(
    store: Store,
    client: str | None = None,
    *,
    open_only: bool = False,
    since: dt.datetime | None = None,
    limit: int | None = None,
) -> list[Incident]:
    """Incidents newest first, optionally of one client, only the unresolved ones, and started
    at or after ``since``."""
    from sqlalchemy import select

    from mspctl.store.models import Incident

    query = select(Incident)
    if client:
        query = query.where(Incident.client == client)
    if open_only:
        query = query.where(Incident.resolved_at.is_(None))
    if since is not None:
        query = query.where(Incident.started_at >= since)
    query = query.order_by(Incident.started_at.desc(), Incident.id.desc())
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        return list(session.scalars(query))


def find_incident(store: Store, incident_id: int) -> Incident:
    """An incident by id; unknown: bad input."""
    from mspctl.store.models import Incident

    with store.session() as session:
        row = session.get(Incident, incident_id)
    if row is None:
        raise BadInput(f"unknown incident {incident_id}")
    return row


# -- runs ------------------------------------------------------------------------------------
_RUN_COLUMNS = (
    'id, seq, client, tier, contract_tier, tier_source, mode, diff, "user", controller, '
    'started_at, ended_at, status, rc, "limit", policies, engine, artifacts_dir, '
    'mspctl_version, fingerprints, "full", pid, status_reason, node'
)
_HOST_COLUMNS = "run_id, host, ok, changed, failed, unreachable, skipped, rescued, ignored"
_RUN_TYPES: dict[str, tuple[str, ...]] = {
    "times": ("started_at", "ended_at"),
    "jsons": ("policies", "fingerprints"),
    "flags": ("diff", "full"),
}


@dataclass
class HostRecap:
    """A host's recap in a run (the columns of ``run_hosts``)."""

    run_id: str
    host: str
    ok: int
    changed: int
    failed: int
    unreachable: int
    skipped: int
    rescued: int
    ignored: int


@dataclass
class RunRow:
    """A run as the read queries return it: the columns of ``runs`` and its host recaps, by
    host (what :func:`mspctl.store.run_as_dict` shows, without the task results)."""

    id: str
    seq: int
    client: str
    tier: str
    contract_tier: str
    tier_source: str
    mode: str
    diff: bool
    user: str
    controller: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    status: str
    rc: int | None
    limit: str | None
    policies: list[Any]
    engine: str
    artifacts_dir: str
    mspctl_version: str
    fingerprints: dict[str, Any]
    full: bool
    pid: int | None
    status_reason: str | None
    node: str | None
    hosts: list[HostRecap] = field(default_factory=list)


def _reader(db: Session | Reader) -> Reader:
    from mspctl.store.reading import Reader

    return db if isinstance(db, Reader) else Reader.of_session(db)


def _runs(db: Reader, where: str, params: dict[str, Any], tail: str) -> list[RunRow]:
    """Runs with their host recaps: ``SELECT ... FROM runs WHERE where tail``."""
    # the SQL is built of this module's constant fragments; every value is a bound parameter
    sql = f"SELECT {_RUN_COLUMNS} FROM runs WHERE {where} {tail}"  # noqa: S608
    rows = db.rows(sql, params, **_RUN_TYPES)
    runs = [RunRow(**row._asdict()) for row in rows]
    if runs:
        by_id = {run.id: run for run in runs}
        for recap in db.rows(
            f"SELECT {_HOST_COLUMNS} FROM run_hosts WHERE run_id IN (:ids) ORDER BY host",  # noqa: S608
            {"ids": list(by_id)},
        ):
            by_id[recap.run_id].hosts.append(HostRecap(*recap))
    return runs


def recent_runs(store: Store, client: str | None = None, limit: int = 50) -> list[RunRow]:
    """Runs newest first, with their host recaps, optionally of one client."""
    where = "client = :client" if client else "1 = 1"
    with store.reader() as db:
        return _runs(
            db,
            where,
            {"client": client, "limit": limit} if client else {"limit": limit},
            "ORDER BY started_at DESC, id DESC LIMIT :limit",
        )


def find_run(store: Store, run_id: str) -> Run:
    """A run by id or unique id prefix, with its host recaps and task results."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from mspctl.store.models import Run

    query = select(Run).options(selectinload(Run.hosts), selectinload(Run.tasks))
    with store.session() as session:
        run = session.scalars(query.where(Run.id == run_id)).one_or_none()
        if run is None:
            prefix = session.scalars(query.where(Run.id.startswith(run_id, autoescape=True))).all()
            if len(prefix) == 1:
                return prefix[0]
            raise BadInput(f"unknown run {run_id!r}")
        return run


def _prefix(text: str) -> str:
    """A LIKE pattern matching the values starting with ``text`` (``ESCAPE '/'``)."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


_COMPLETED_OF = "client = :client AND status IN (:completed)"


def resolve_run(
    session: Session | Reader, client: str, ref: str | None, *, offset: int = 0
) -> RunRow:
    """A run of a client by id (or unique prefix), by date (the last run that day or before),
    or the newest one; ``offset=1`` with no ref gives the one before the newest."""
    db = _reader(session)
    params: dict[str, Any] = {"client": client, "completed": COMPLETED}
    if ref is None:
        found = _runs(
            db,
            _COMPLETED_OF,
            {**params, "offset": offset},
            "ORDER BY seq DESC LIMIT 1 OFFSET :offset",
        )
        if not found:
            needed = "two completed runs" if offset else "a completed run"
            raise BadInput(f"client {client!r} needs {needed} in the store")
        return found[0]
    if _DATE.match(ref):
        try:
            day = dt.date.fromisoformat(ref)
        except ValueError:
            raise BadInput(f"invalid date {ref!r}") from None
        end = (
            dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
            if day < dt.date.max
            else dt.datetime.max.replace(tzinfo=dt.UTC)
        )
        found = _runs(
            db,
            f"{_COMPLETED_OF} AND started_at < :end",
            {**params, "end": end},
            "ORDER BY seq DESC LIMIT 1",
        )
        if not found:
            raise BadInput(f"no run of {client!r} on or before {ref}")
        return found[0]
    matches = _runs(
        db,
        f"{_COMPLETED_OF} AND id LIKE :prefix ESCAPE '/'",
        {**params, "prefix": _prefix(ref)},
        "",
    )
    if len(matches) != 1:
        raise BadInput(f"{'no' if not matches else 'ambiguous'} run {ref!r} of client {client!r}")
    return matches[0]


def previous_run(session: Session | Reader, run: RunRow) -> RunRow:
    """The client's completed run before ``run``."""
    found = _runs(
        _reader(session),
        f"{_COMPLETED_OF} AND seq < :seq",
        {"client": run.client, "completed": COMPLETED, "seq": run.seq},
        "ORDER BY seq DESC LIMIT 1",
    )
    if not found:
        raise BadInput(f"client {run.client!r} has no completed run before {run.id}")
    return found[0]


def last_applied_fingerprints(store: Store, client: str) -> dict[str, str]:
    """Per policy, the fingerprint of its last successful apply (newest first wins)."""
    from sqlalchemy import select

    from mspctl.store.models import Run

    with store.session() as session:
        runs = session.scalars(
            select(Run)
            .where(Run.client == client, Run.mode == "apply", Run.status == "successful")
            .order_by(Run.seq.desc())
            .limit(200)
        ).all()
    out: dict[str, str] = {}
    for run in runs:
        for policy, fingerprint in (run.fingerprints or {}).items():
            out.setdefault(policy, fingerprint)
    return out


def changed_tasks(session: Session | Reader, run: RunRow) -> list[Any]:
    """Tasks of a run that changed (for a check run: would change), by host: rows with the
    columns of ``task_results``."""
    return _reader(session).rows(
        "SELECT id, run_id, host, policy, role, task, action, status, changed, message, "
        "diff_summary, details FROM task_results WHERE run_id = :run AND changed = :yes "
        "ORDER BY host, id",
        {"run": run.id, "yes": True},
        jsons=("details",),
        flags=("changed",),
    )


# -- control states --------------------------------------------------------------------------
# the columns of a control's state, from ``findings`` (f) or ``control_states`` (s)
_STATE = "{t}.host, {t}.control_id, {t}.policy, {t}.title, {t}.status, {t}.expected, {t}.actual, "
_STATE_JSON = ("expected", "actual", "evidence")


def state_at(session: Session | Reader, client: str, seq: int) -> list[Any]:
    """The newest change of every control of a client at run ``seq`` (absent ones left out)."""
    # plain rows, not ORM objects: a client's full state is hundreds of controls
    return _reader(session).rows(
        f"SELECT {_STATE.format(t='f')}f.evidence, f.run_seq AS since_run_seq "  # noqa: S608
        "FROM findings f JOIN ("
        "  SELECT host, control_id, max(run_seq) AS seq FROM findings"
        "  WHERE client = :client AND run_seq <= :seq GROUP BY host, control_id"
        ") newest ON f.client = :client AND f.host = newest.host"
        " AND f.control_id = newest.control_id AND f.run_seq = newest.seq "
        "WHERE f.status != 'absent' ORDER BY f.host, f.control_id",
        {"client": client, "seq": seq},
        jsons=_STATE_JSON,
    )


def states_of_run(session: Session | Reader, run: RunRow) -> list[Any]:
    """The control states of a client at a run. For the client's newest run, the current
    states carry the newest evidence; older runs show the evidence recorded when the state
    began."""
    db = _reader(session)
    newest_seq = db.scalar(
        "SELECT max(seq) FROM runs WHERE client = :client", {"client": run.client}
    )
    if newest_seq == run.seq:
        return db.rows(
            f"SELECT {_STATE.format(t='s')}s.evidence, s.since_run_seq "  # noqa: S608
            "FROM control_states s "
            "WHERE s.client = :client AND s.status != 'absent' ORDER BY s.host, s.control_id",
            {"client": run.client},
            jsons=_STATE_JSON,
        )
    return state_at(db, run.client, run.seq)


# -- assets ----------------------------------------------------------------------------------
def assets_at(session: Session | Reader, client: str, seq: int) -> dict[str, dict[str, Any]]:
    """Every host's newest asset record at run ``seq``."""
    rows = _reader(session).rows(
        "SELECT a.host, a.record FROM asset_records a JOIN ("
        "  SELECT host, max(run_seq) AS seq FROM asset_records"
        "  WHERE client = :client AND run_seq <= :seq GROUP BY host"
        ") newest ON a.client = :client AND a.host = newest.host AND a.run_seq = newest.seq",
        {"client": client, "seq": seq},
        jsons=("record",),
    )
    return {r.host: r.record for r in rows}


# -- the fleet -------------------------------------------------------------------------------
@dataclass
class FleetSnapshot:
    """What a fleet summary needs, read in a handful of set-based queries."""

    # client -> {"last": (seq, full, started_at), "previous": (...)}, clients with two runs
    pairs: dict[str, dict[str, Any]]
    changes: dict[str, list[Any]]  # client -> control changes recorded by its last run
    failing: dict[str, int]  # client -> controls failing now
    hosts: dict[int, set[str]]  # run seq -> its hosts
    asset_changes: Counter[str]  # client -> asset records changed by its last run


def fleet_snapshot(store: Store) -> FleetSnapshot:
    """Every client's last two completed runs and what the last one changed (no per-client
    state reconstruction, so it stays fast for a fleet)."""
    with store.reader() as db:
        pairs: dict[str, dict[str, Any]] = {}
        for client, seq, full, started, rank in db.rows(
            'SELECT client, seq, "full", started_at, rank FROM ('
            '  SELECT client, seq, "full", started_at,'
            "   row_number() OVER (PARTITION BY client ORDER BY seq DESC) AS rank"
            "  FROM runs WHERE status IN (:completed)"
            ") ranked WHERE rank <= 2",
            {"completed": COMPLETED},
            times=("started_at",),
            flags=("full",),
        ):
            entry = pairs.setdefault(client, {})
            entry["last" if rank == 1 else "previous"] = (seq, full, started)
        pairs = {c: e for c, e in pairs.items() if "previous" in e}
        last_seqs = [e["last"][0] for e in pairs.values()]
        changes = (
            db.rows(
                "SELECT client, host, control_id, status, previous_status FROM findings "
                "WHERE run_seq IN (:seqs)",
                {"seqs": last_seqs},
            )
            if last_seqs
            else []
        )
        failing = dict(
            db.rows(
                "SELECT client, count(*) FROM control_states WHERE status IN (:failing) "
                "GROUP BY client",
                {"failing": FAILING},
            )
        )
        all_seqs = [e[k][0] for e in pairs.values() for k in ("last", "previous")]
        hosts: dict[int, set[str]] = defaultdict(set)
        if all_seqs:
            for seq_, host in db.rows(
                "SELECT r.seq, h.host FROM runs r JOIN run_hosts h ON h.run_id = r.id "
                "WHERE r.seq IN (:seqs)",
                {"seqs": all_seqs},
            ):
                hosts[seq_].add(host)
        asset_changed = Counter(
            client
            for (client,) in (
                db.rows(
                    "SELECT client FROM asset_records WHERE run_seq IN (:seqs)",
                    {"seqs": last_seqs},
                )
                if last_seqs
                else []
            )
        )
    by_client: dict[str, list[Any]] = defaultdict(list)
    for row in changes:
        by_client[row.client].append(row)
    return FleetSnapshot(pairs, dict(by_client), failing, hosts, asset_changed)


# -- a client's month (the monthly report) -------------------------------------------------------
@dataclass
class MonthHistory:
    """What the monthly report reads of one client and period, in a handful of queries."""

    runs: list[Run]  # completed runs started in the period, by seq, with their host recaps
    # their tasks of the actions asked for (rows: run_id, host, action, status, changed, details)
    tasks: list[Any]
    findings: list[Any]  # every control change of the client up to the period's last run
    # the evidence of the changes in the period of the controls asked for, by (host, control, seq)
    evidence: dict[tuple[str, str, int], dict[str, Any]]
    assets_end: dict[str, dict[str, Any]]  # each host's newest asset record at the period's end
    asset_changes: list[AssetRecord]  # asset records written by the period's runs
    bookings: list[MaintenanceBooking]  # non-cancelled bookings starting in the period
    controls_now: list[ControlState]  # the current state of the controls asked for
    # windows missed in the period (``run-due``), and the catch-ups of those misses that
    # happened before the period's end
    patch_events: list[PatchEvent]


def month_history(
    session: Session,
    client: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    controls: tuple[str, ...] = (),
    actions: tuple[str, ...] = (),
) -> MonthHistory:
    """A client's completed runs started in ``[start, end)`` and what they recorded: every
    control change up to the period's end (without evidence), and for the ``controls`` named,
    the evidence of their changes in the period and their current state; the outcomes of the
    tasks whose action ends with one of ``actions``."""
    from sqlalchemy import or_, select
    from sqlalchemy.orm import selectinload

    from mspctl.store.models import (
        AssetRecord,
        ControlState,
        Finding,
        MaintenanceBooking,
        PatchEvent,
        Run,
        TaskRecord,
    )

    runs = list(
        session.scalars(
            select(Run)
            .options(selectinload(Run.hosts))
            .where(
                Run.client == client,
                Run.status.in_(COMPLETED),
                Run.started_at >= start,
                Run.started_at < end,
            )
            .order_by(Run.seq)
        )
    )
    ids = [r.id for r in runs]
    tasks = (
        list(
            session.execute(
                select(
                    TaskRecord.run_id,
                    TaskRecord.host,
                    TaskRecord.action,
                    TaskRecord.status,
                    TaskRecord.changed,
                    TaskRecord.details,
                )
                .where(
                    TaskRecord.run_id.in_(ids),
                    or_(*(TaskRecord.action.endswith(a, autoescape=True) for a in actions)),
                )
                .order_by(TaskRecord.run_id, TaskRecord.id)
            )
        )
        if ids and actions
        else []
    )
    last_seq = runs[-1].seq if runs else _last_seq_before(session, client, end)
    findings = list(
        session.execute(
            select(
                Finding.host,
                Finding.control_id,
                Finding.policy,
                Finding.title,
                Finding.status,
                Finding.previous_status,
                Finding.run_seq,
            )
            .where(Finding.client == client, Finding.run_seq <= last_seq)
            .order_by(Finding.run_seq, Finding.id)
        )
    )
    evidence = (
        {
            (host, control, seq): value or {}
            for host, control, seq, value in session.execute(
                select(Finding.host, Finding.control_id, Finding.run_seq, Finding.evidence).where(
                    Finding.client == client,
                    Finding.run_seq.in_([r.seq for r in runs]),
                    Finding.control_id.in_(controls),
                )
            )
        }
        if runs and controls
        else {}
    )
    asset_changes = (
        list(
            session.scalars(
                select(AssetRecord)
                .where(AssetRecord.client == client, AssetRecord.run_id.in_(ids))
                .order_by(AssetRecord.run_seq, AssetRecord.host)
            )
        )
        if ids
        else []
    )
    booked = list(
        session.scalars(
            select(MaintenanceBooking)
            .where(
                MaintenanceBooking.client == client,
                MaintenanceBooking.cancelled_at.is_(None),
                MaintenanceBooking.start_at >= start,
                MaintenanceBooking.start_at < end,
            )
            .order_by(MaintenanceBooking.start_at, MaintenanceBooking.id)
        )
    )
    controls_now = (
        list(
            session.scalars(
                select(ControlState)
                .where(ControlState.client == client, ControlState.control_id.in_(controls))
                .order_by(ControlState.host, ControlState.control_id)
            )
        )
        if controls
        else []
    )
    missed = list(
        session.scalars(
            select(PatchEvent)
            .where(
                PatchEvent.client == client,
                PatchEvent.kind == "missed",
                PatchEvent.at >= start,
                PatchEvent.at < end,
            )
            .order_by(PatchEvent.at, PatchEvent.id)
        )
    )
    caught = (
        list(
            session.scalars(
                select(PatchEvent)
                .where(
                    PatchEvent.client == client,
                    PatchEvent.kind == "caught_up",
                    PatchEvent.missed_id.in_([m.id for m in missed]),
                    PatchEvent.at < end,
                )
                .order_by(PatchEvent.at, PatchEvent.id)
            )
        )
        if missed
        else []
    )
    return MonthHistory(
        patch_events=missed + caught,
        runs=runs,
        tasks=tasks,
        findings=findings,
        evidence=evidence,
        assets_end=assets_at(session, client, last_seq),
        asset_changes=asset_changes,
        bookings=booked,
        controls_now=controls_now,
    )


def _last_seq_before(session: Session, client: str, end: dt.datetime) -> int:
    from sqlalchemy import func, select

    from mspctl.store.models import Run

    seq = session.scalar(
        select(func.max(Run.seq)).where(
            Run.client == client, Run.status.in_(COMPLETED), Run.started_at < end
        )
    )
    return int(seq or 0)
