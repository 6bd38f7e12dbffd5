"""Tables of the run store. Changes to them need an Alembic migration in ``migrations/``."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored as UTC and read back time-zone aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the run store")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Run(Base):
    """One apply or check of a client's tier."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)  # global order of runs (unique index)
    client: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(32))
    contract_tier: Mapped[str] = mapped_column(String(32))
    tier_source: Mapped[str] = mapped_column(String(16))  # contract | trial | override
    mode: Mapped[str] = mapped_column(String(8))  # apply | check
    diff: Mapped[bool] = mapped_column(Boolean, default=False)
    user: Mapped[str] = mapped_column(String(64))
    controller: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # running | successful | failed | aborted
    rc: Mapped[int | None] = mapped_column(Integer, nullable=True)
    limit: Mapped[str | None] = mapped_column(String(255), nullable=True)
    policies: Mapped[list[Any]] = mapped_column(JSON)
    engine: Mapped[str] = mapped_column(String(16))
    artifacts_dir: Mapped[str] = mapped_column(Text)
    mspctl_version: Mapped[str] = mapped_column(String(32))
    # policy -> hash of everything that decides its desired state (tier values, role files,
    # client inventory); a check run's change is drift when its policy's hash is unchanged
    # since the last apply, else a pending intentional change
    fingerprints: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    # no --limit and no --policy: the run speaks for the whole client
    full: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # the mspctl process on ``controller`` that runs it: a ``running`` run whose process is
    # gone is reconciled to ``aborted``, with the reason
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the execution node the run was streamed to (docs/nodes.md); None: the controller
    node: Mapped[str | None] = mapped_column(String(64), nullable=True)

    hosts: Mapped[list[RunHost]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="RunHost.host"
    )
    tasks: Mapped[list[TaskRecord]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="TaskRecord.id"
    )

    __table_args__ = (
        Index("ix_runs_client_started", "client", "started_at"),
        Index("ux_runs_seq", "seq", unique=True),
        Index("ix_runs_status", "status"),
    )


class RunHost(Base):
    """Per-host play recap of a run."""

    __tablename__ = "run_hosts"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    ok: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    unreachable: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    rescued: Mapped[int] = mapped_column(Integer, default=0)
    ignored: Mapped[int] = mapped_column(Integer, default=0)

    run: Mapped[Run] = relationship(back_populates="hosts")


class TaskRecord(Base):
    """One task's outcome on one host. ``diff_summary`` never holds a no_log task's content."""

    __tablename__ = "task_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(255))
    policy: Mapped[str | None] = mapped_column(String(32), nullable=True)
    role: Mapped[str | None] = mapped_column(String(64), nullable=True)
    task: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    changed: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    diff_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    # figures a report needs from the task's result (``results.task_details``), e.g. a patch
    # run's upgraded packages by kind; never a no_log task's content
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    run: Mapped[Run] = relationship(back_populates="tasks")

    __table_args__ = (Index("ix_task_results_run_host", "run_id", "host"),)


class Finding(Base):
    """A change of a control's state: written only when the status differs from the state the
    control had before this run, so a night without changes costs no rows. The state of every
    control at run R is the newest row with ``run_seq <= R.seq`` (``absent`` = gone)."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    control_id: Mapped[str] = mapped_column(String(128))
    run_seq: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    policy: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(8))  # pass | fail | error | absent
    previous_status: Mapped[str | None] = mapped_column(String(8), nullable=True)
    title: Mapped[str] = mapped_column(Text)
    expected: Mapped[Any] = mapped_column(JSON, nullable=True)
    actual: Mapped[Any] = mapped_column(JSON, nullable=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_findings_state", "client", "host", "control_id", "run_seq"),
        Index("ix_findings_run", "run_seq"),
    )


class ControlState(Base):
    """The newest state of each control, with the evidence of the last run that evaluated it."""

    __tablename__ = "control_states"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    control_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    policy: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(Text)
    expected: Mapped[Any] = mapped_column(JSON, nullable=True)
    actual: Mapped[Any] = mapped_column(JSON, nullable=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    since_run_seq: Mapped[int] = mapped_column(Integer)
    last_run_seq: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_control_states_status", "client", "status"),)


class AssetRecord(Base):
    """A host's asset record, written when it differs from the previous one (by digest)."""

    __tablename__ = "asset_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    run_seq: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(80))
    record: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_asset_records_host", "client", "host", "run_seq"),)


class RunLock(Base):
    """The per-client run lock: at most one row per client (the primary key), held by one run.
    See :mod:`mspctl.store.locks`."""

    __tablename__ = "run_locks"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(40))
    pid: Mapped[int] = mapped_column(Integer)
    controller: Mapped[str] = mapped_column(String(255))
    user: Mapped[str] = mapped_column(String(64))
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    heartbeat: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class MaintenanceBooking(Base):
    """A one-off maintenance booked for a client (``mspctl maintenance book``): its start in
    UTC, and as the local wall-clock time it was booked at, in the client's time zone."""

    __tablename__ = "maintenance_bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(64))
    start_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    start_local: Mapped[str] = mapped_column(String(16))  # "YYYY-MM-DD HH:MM" in ``timezone``
    timezone: Mapped[str] = mapped_column(String(64))
    duration_seconds: Mapped[int] = mapped_column(Integer)
    hosts: Mapped[str] = mapped_column(String(255), default="all")
    reason: Mapped[str] = mapped_column(Text)
    booked_by: Mapped[str] = mapped_column(String(64))
    booked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_maintenance_bookings_client_start", "client", "start_at"),)


class PatchEvent(Base):
    """A host's patch window it missed, and the patch that caught it up (``mspctl run-due``).

    ``missed``: the host was due (its window open at the fleet run's instant ``at``) and
    unreachable. ``caught_up``: a later fleet run patched it; ``missed_id`` names the miss it
    closes (one row per closed miss). A miss without a ``caught_up`` row is still open."""

    __tablename__ = "patch_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # missed | caught_up
    host_class: Mapped[str] = mapped_column(String(32))  # servers | workstations | nas | ""
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())  # the fleet run's instant (--now)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    missed_id: Mapped[int | None] = mapped_column(
        ForeignKey("patch_events.id", ondelete="CASCADE"), nullable=True
    )
    failure: Mapped[bool] = mapped_column(Boolean, default=False)  # the tier counts it a failure
    detail: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_patch_events_client_host", "client", "host", "at"),)


class Incident(Base):
    """An alert of Alertmanager that reached mspctl (``mspctl incidents serve``), with its
    first-response SLA: ``due_at`` is ``sla_minutes`` business minutes after ``started_at`` in
    the client's support hours (``calendar``: timezone, days, start, end, country, kept so the
    SLA result never depends on a later tier change). ``acked_at`` is the first response.

    One open incident per alert fingerprint (a partial unique index): a repeat of an open
    incident counts in ``repeats``; once resolved, the same alert firing again is a new one."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    alertname: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16))  # open | acked | resolved
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())  # the alert's startsAt
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    sla_minutes: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    calendar: Mapped[dict[str, Any]] = mapped_column(JSON)
    acked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ack_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        Index(
            "ux_incidents_open_fingerprint",
            "fingerprint",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index("ix_incidents_client_started", "client", "started_at"),
        Index("ix_incidents_status_due", "status", "due_at"),
    )
