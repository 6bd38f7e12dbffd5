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

from sqlalchemy import create_engine, event, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from mspctl.errors import BadInput, MspctlError
from mspctl.store.models import Run, RunHost, TaskRecord

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


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
        with self.session() as session:
            session.add(run)

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        rc: int | None,
        hosts: Sequence[RunHost],
        tasks: Sequence[TaskRecord],
    ) -> Run:
        with self.session() as session:
            run = session.get_one(Run, run_id)
            run.status = status
            run.rc = rc
            run.ended_at = dt.datetime.now(dt.UTC)
            run.hosts.extend(hosts)
            run.tasks.extend(tasks)
            return run

    # -- reading ----------------------------------------------------------------------------
    def runs(self, client: str | None = None, limit: int = 50) -> list[Run]:
        query = select(Run).options(selectinload(Run.hosts))
        if client:
            query = query.where(Run.client == client)
        query = query.order_by(Run.started_at.desc(), Run.id.desc()).limit(limit)
        with self._sessions() as session:
            return list(session.scalars(query))

    def run(self, run_id: str) -> Run:
        query = select(Run).options(selectinload(Run.hosts), selectinload(Run.tasks))
        with self._sessions() as session:
            run = session.scalars(query.where(Run.id == run_id)).one_or_none()
            if run is None:
                prefix = session.scalars(
                    query.where(Run.id.startswith(run_id, autoescape=True))
                ).all()
                if len(prefix) == 1:
                    return prefix[0]
                raise BadInput(f"unknown run {run_id!r}")
            return run


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def run_as_dict(run: Run, *, tasks: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": run.id, "client": run.client, "tier": run.tier, "contract_tier": run.contract_tier,
        "tier_source": run.tier_source, "mode": run.mode, "diff": run.diff, "user": run.user,
        "controller": run.controller, "engine": run.engine,
        "started_at": run.started_at.isoformat(),
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "status": run.status, "rc": run.rc, "limit": run.limit, "policies": run.policies,
        "artifacts_dir": run.artifacts_dir, "mspctl_version": run.mspctl_version,
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
