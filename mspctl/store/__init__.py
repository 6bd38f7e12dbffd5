"""The run store: every run, its per-host recap and per-task results (SQLAlchemy + Alembic).

SQLite by default; ``MSPCTL_DB_URL`` points at PostgreSQL or any SQLAlchemy URL. The schema is
brought to the newest Alembic revision when the store opens.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mspctl.errors import BadInput, MspctlError
from mspctl.store.models import AssetRecord, ControlState, Finding, Run, RunHost, TaskRecord

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"
# the newest Alembic revision; a test checks it against the migration scripts. Opening a store
# already at this revision skips importing Alembic (a third of a command's start-up).
SCHEMA_HEAD = "0002"


def alembic_config(connection: Any = None) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Store:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            engine = create_engine(url)
        except Exception as exc:  # any URL problem is bad input
            raise BadInput(f"invalid database URL ({exc})", key="MSPCTL_DB_URL") from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        store.migrate()
        return store

    def migrate(self) -> None:
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        try:
            with self.engine.connect() as connection:
                current = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            if [row[0] for row in current] == [SCHEMA_HEAD]:
                return
        except DBAPIError:
            pass  # a new store: no version table yet
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

    # -- writing ----------------------------------------------------------------------------
    def add_run(self, run: Run) -> None:
        """Record a starting run; it gets the next sequence number (retried on a race)."""
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
    ) -> Run:
        """Complete a run with its recap, task results, findings and asset records, at once."""
        with self.session() as session:
            run = session.get_one(Run, run_id)
            run.status = status
            run.rc = rc
            run.ended_at = dt.datetime.now(dt.UTC)
            run.hosts.extend(hosts)
            run.tasks.extend(tasks)
            session.flush()
            _record_findings(session, run, findings)
            _record_assets(session, run, assets or {})
            return run


def _record_findings(session: Session, run: Run, findings: Sequence[dict[str, Any]]) -> None:
    """Write the changes of control states, and refresh the current states."""
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
            session.add(Finding(
                client=run.client, host=item["host"], control_id=item["control_id"],
                run_seq=run.seq, run_id=run.id, policy=item["policy"], status=item["status"],
                previous_status=previous, title=item["title"], expected=item.get("expected"),
                actual=item.get("actual"), evidence=item.get("evidence") or {},
            ))
        if state is None:
            state = ControlState(client=run.client, host=item["host"],
                                 control_id=item["control_id"], since_run_seq=run.seq)
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
            session.add(Finding(
                client=run.client, host=state.host, control_id=state.control_id,
                run_seq=run.seq, run_id=run.id, policy=state.policy, status="absent",
                previous_status=state.status, title=state.title, evidence={},
            ))
            state.status = "absent"
            state.since_run_seq = state.last_run_seq = run.seq


def _record_assets(session: Session, run: Run, assets: dict[str, dict[str, Any]]) -> None:
    import hashlib
    import json

    for host, record in sorted(assets.items()):
        digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
        last = session.scalars(
            select(AssetRecord.digest)
            .where(AssetRecord.client == run.client, AssetRecord.host == host)
            .order_by(AssetRecord.run_seq.desc()).limit(1)
        ).first()
        if last != digest:
            session.add(AssetRecord(client=run.client, host=host, run_seq=run.seq, run_id=run.id,
                                    digest=digest, record=record))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def run_as_dict(run: Run, *, tasks: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": run.id, "seq": run.seq, "client": run.client, "tier": run.tier,
        "contract_tier": run.contract_tier,
        "tier_source": run.tier_source, "mode": run.mode, "diff": run.diff, "user": run.user,
        "controller": run.controller, "engine": run.engine,
        "started_at": run.started_at.isoformat(),
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "status": run.status, "rc": run.rc, "limit": run.limit, "policies": run.policies,
        "artifacts_dir": run.artifacts_dir, "mspctl_version": run.mspctl_version,
        "full": run.full, "fingerprints": run.fingerprints,
        "hosts": {
            h.host: {"ok": h.ok, "changed": h.changed, "failed": h.failed,
                     "unreachable": h.unreachable, "skipped": h.skipped,
                     "rescued": h.rescued, "ignored": h.ignored}
            for h in run.hosts
        },
    }
    if tasks:
        data["tasks"] = [
            {"host": t.host, "policy": t.policy, "role": t.role, "task": t.task,
             "action": t.action, "status": t.status, "changed": t.changed,
             "message": t.message, "diff_summary": t.diff_summary}
            for t in run.tasks
        ]
    return data
