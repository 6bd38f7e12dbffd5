"""Every read of the run store. Writes are :class:`mspctl.store.Store` methods.

Functions taking a ``Session`` run inside the caller's unit of work (one consistent read of
several queries); functions taking the ``Store`` open their own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.orm import selectinload

from mspctl.errors import BadInput
from mspctl.store.models import (
    AssetRecord,
    ControlState,
    Finding,
    Incident,
    MaintenanceBooking,
    PatchEvent,
    Run,
    RunHost,
    TaskRecord,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mspctl.store import Store

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
    with store.session() as session:
        row = session.get(Incident, incident_id)
    if row is None:
        raise BadInput(f"unknown incident {incident_id}")
    return row


# -- runs ------------------------------------------------------------------------------------
def recent_runs(store: Store, client: str | None = None, limit: int = 50) -> list[Run]:
    """Runs newest first, with their host recaps, optionally of one client."""
    query = select(Run).options(selectinload(Run.hosts))
    if client:
        query = query.where(Run.client == client)
    query = query.order_by(Run.started_at.desc(), Run.id.desc()).limit(limit)
    with store.session() as session:
        return list(session.scalars(query))


def find_run(store: Store, run_id: str) -> Run:
    """A run by id or unique id prefix, with its host recaps and task results."""
    query = select(Run).options(selectinload(Run.hosts), selectinload(Run.tasks))
    with store.session() as session:
        run = session.scalars(query.where(Run.id == run_id)).one_or_none()
        if run is None:
            prefix = session.scalars(query.where(Run.id.startswith(run_id, autoescape=True))).all()
            if len(prefix) == 1:
                return prefix[0]
            raise BadInput(f"unknown run {run_id!r}")
        return run


def resolve_run(session: Session, client: str, ref: str | None, *, offset: int = 0) -> Run:
    """A run of a client by id (or unique prefix), by date (the last run that day or before),
    or the newest one; ``offset=1`` with no ref gives the one before the newest."""
    completed = (Run.client == client) & Run.status.in_(COMPLETED)
    query = select(Run).where(completed)
    if ref is None:
        run = session.scalars(query.order_by(Run.seq.desc()).offset(offset).limit(1)).first()
        if run is None:
            needed = "two completed runs" if offset else "a completed run"
            raise BadInput(f"client {client!r} needs {needed} in the store")
        return run
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
        run = session.scalars(
            query.where(Run.started_at < end).order_by(Run.seq.desc()).limit(1)
        ).first()
        if run is None:
            raise BadInput(f"no run of {client!r} on or before {ref}")
        return run
    matches = session.scalars(query.where(Run.id.startswith(ref, autoescape=True))).all()
    if len(matches) != 1:
        raise BadInput(f"{'no' if not matches else 'ambiguous'} run {ref!r} of client {client!r}")
    return matches[0]


def previous_run(session: Session, run: Run) -> Run:
    """The client's completed run before ``run``."""
    prev = session.scalars(
        select(Run)
        .where(Run.client == run.client, Run.seq < run.seq, Run.status.in_(COMPLETED))
        .order_by(Run.seq.desc())
        .limit(1)
    ).first()
    if prev is None:
        raise BadInput(f"client {run.client!r} has no completed run before {run.id}")
    return prev


def last_applied_fingerprints(store: Store, client: str) -> dict[str, str]:
    """Per policy, the fingerprint of its last successful apply (newest first wins)."""
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


def changed_tasks(session: Session, run: Run) -> list[TaskRecord]:
    """Tasks of a run that changed (for a check run: would change), by host."""
    return list(
        session.scalars(
            select(TaskRecord)
            .where(TaskRecord.run_id == run.id, TaskRecord.changed.is_(True))
            .order_by(TaskRecord.host, TaskRecord.id)
        )
    )


# -- control states --------------------------------------------------------------------------
def _state_columns(table: Any) -> tuple[Any, ...]:
    seq = table.run_seq if table is Finding else table.since_run_seq
    return (
        table.host,
        table.control_id,
        table.policy,
        table.title,
        table.status,
        table.expected,
        table.actual,
        table.evidence,
        seq.label("since_run_seq"),
    )


def state_at(session: Session, client: str, seq: int) -> list[Any]:
    """The newest change of every control of a client at run ``seq`` (absent ones left out)."""
    newest = (
        select(Finding.host, Finding.control_id, func.max(Finding.run_seq).label("seq"))
        .where(Finding.client == client, Finding.run_seq <= seq)
        .group_by(Finding.host, Finding.control_id)
        .subquery()
    )
    # plain rows, not ORM objects: a client's full state is hundreds of controls
    query = (
        select(*_state_columns(Finding))
        .join(
            newest,
            and_(
                Finding.client == client,
                Finding.host == newest.c.host,
                Finding.control_id == newest.c.control_id,
                Finding.run_seq == newest.c.seq,
            ),
        )
        .where(Finding.status != "absent")
        .order_by(Finding.host, Finding.control_id)
    )
    return list(session.execute(query))


def states_of_run(session: Session, run: Run) -> list[Any]:
    """The control states of a client at a run. For the client's newest run, the current
    states carry the newest evidence; older runs show the evidence recorded when the state
    began."""
    newest_seq = session.scalar(select(func.max(Run.seq)).where(Run.client == run.client))
    if newest_seq == run.seq:
        return list(
            session.execute(
                select(*_state_columns(ControlState))
                .where(ControlState.client == run.client, ControlState.status != "absent")
                .order_by(ControlState.host, ControlState.control_id)
            ).all()
        )
    return state_at(session, run.client, run.seq)


# -- assets ----------------------------------------------------------------------------------
def assets_at(session: Session, client: str, seq: int) -> dict[str, dict[str, Any]]:
    """Every host's newest asset record at run ``seq``."""
    newest = (
        select(AssetRecord.host, func.max(AssetRecord.run_seq).label("seq"))
        .where(AssetRecord.client == client, AssetRecord.run_seq <= seq)
        .group_by(AssetRecord.host)
        .subquery()
    )
    rows = session.scalars(
        select(AssetRecord).join(
            newest,
            and_(
                AssetRecord.client == client,
                AssetRecord.host == newest.c.host,
                AssetRecord.run_seq == newest.c.seq,
            ),
        )
    ).all()
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
    ranked = (
        select(
            Run.client,
            Run.seq,
            Run.full,
            Run.started_at,
            func.row_number().over(partition_by=Run.client, order_by=Run.seq.desc()).label("rank"),
        )
        .where(Run.status.in_(COMPLETED))
        .subquery()
    )
    with store.session() as session:
        pairs: dict[str, dict[str, Any]] = {}
        for client, seq, full, started, rank in session.execute(
            select(ranked).where(ranked.c.rank <= 2)
        ):
            entry = pairs.setdefault(client, {})
            entry["last" if rank == 1 else "previous"] = (seq, full, started)
        pairs = {c: e for c, e in pairs.items() if "previous" in e}
        last_seqs = [e["last"][0] for e in pairs.values()]
        changes = (
            session.execute(
                select(
                    Finding.client,
                    Finding.host,
                    Finding.control_id,
                    Finding.status,
                    Finding.previous_status,
                ).where(Finding.run_seq.in_(last_seqs))
            ).all()
            if last_seqs
            else []
        )
        failing = dict(
            session.execute(
                select(ControlState.client, func.count(literal_column("*")))
                .where(ControlState.status.in_(FAILING))
                .group_by(ControlState.client)
            ).all()
        )
        all_seqs = [e[k][0] for e in pairs.values() for k in ("last", "previous")]
        hosts: dict[int, set[str]] = defaultdict(set)
        for seq_, host in session.execute(
            select(Run.seq, RunHost.host)
            .join(RunHost, RunHost.run_id == Run.id)
            .where(Run.seq.in_(all_seqs))
        ):
            hosts[seq_].add(host)
        asset_changed = Counter(
            client
            for (client,) in session.execute(
                select(AssetRecord.client).where(AssetRecord.run_seq.in_(last_seqs))
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
    seq = session.scalar(
        select(func.max(Run.seq)).where(
            Run.client == client, Run.status.in_(COMPLETED), Run.started_at < end
        )
    )
    return int(seq or 0)
