"""The run store's schema: migrations match the models and never lose recorded runs."""

from __future__ import annotations

import datetime as dt
import sqlite3

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from mspctl.store import SCHEMA_HEAD, Store, alembic_config
from mspctl.store.queries import recent_runs


def test_schema_head_constant_matches_the_migrations():
    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [SCHEMA_HEAD]


def test_migrations_produce_the_models_schema(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from mspctl.store.models import Base

    store = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_upgrade_from_the_first_schema_keeps_recorded_runs(tmp_path):
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
    started = dt.datetime(2026, 1, 2, 3, 4, 5)  # stored as text, as SQLAlchemy does
    with sqlite3.connect(tmp_path / "old.sqlite") as db:
        for n in (2, 1):
            db.execute(
                "insert into runs (id, client, tier, contract_tier, tier_source, mode, diff, user,"
                " controller, started_at, status, policies, engine, artifacts_dir, mspctl_version)"
                " values (?, 'demo', 'gold', 'gold', 'contract', 'apply', 0, 'me', 'box', ?,"
                " 'successful', '[]', 'mitogen', '/x', '0.0.1')",
                (f"run-{n}", (started + dt.timedelta(hours=n)).isoformat(" ")),
            )
    store = Store.open(url)
    runs = recent_runs(store, "demo")
    assert [(r.id, r.seq, r.full) for r in runs] == [("run-2", 2, True), ("run-1", 1, True)]
