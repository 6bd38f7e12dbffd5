"""The plain-SQL reads of ``mspctl.store.queries`` on SQLite and on a real PostgreSQL: the same
rows, typed as the ORM types them (UTC-aware timestamps, decoded JSON, booleans), whether they
run on a SQLite store's own ``sqlite3`` connection or through SQLAlchemy."""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

from mspctl.store import Store, run_as_dict
from mspctl.store import queries as q
from mspctl.store.models import Run, RunHost, TaskRecord
from mspctl.store.reading import Reader

START = dt.datetime(2026, 10, 1, 1, 0, tzinfo=dt.UTC)


def _finding(host: str, control: str, status: str, night: int) -> dict[str, Any]:
    return {
        "host": host,
        "control_id": control,
        "policy": "baseline",
        "status": status,
        "title": f"Control {control}",
        "expected": {"min": 3} if control.endswith("1") else "ok",
        "actual": night,
        "evidence": {"night": night, "note": "ünïcode"},
    }


def record(store: Store, run_id: str, night: int, *, mode: str = "apply", **findings: str) -> None:
    started = START + dt.timedelta(days=night)
    store.add_run(
        Run(
            id=run_id,
            client="acme",
            tier="gold",
            contract_tier="gold",
            tier_source="contract",
            mode=mode,
            diff=mode == "check",
            user="tester",
            controller=socket.gethostname(),
            started_at=started,
            status="running",
            policies=["baseline", "assets"],
            engine="mitogen",
            artifacts_dir="/nonexistent",
            mspctl_version="test",
            fingerprints={"baseline": f"fp{night}"},
        )
    )
    store.finish_run(
        run_id,
        status="successful",
        rc=0,
        hosts=[RunHost(host=h, ok=5, changed=int(mode == "check")) for h in ("web1", "db1")],
        tasks=[
            TaskRecord(
                host="web1",
                policy="baseline",
                task="sshd config",
                action="ansible.builtin.template",
                status="ok",
                changed=mode == "check",
                diff_summary="1 line",
                details={"path": "/etc/ssh/sshd_config"},
            )
        ],
        findings=[
            _finding(host, control, status, night)
            for key, status in findings.items()
            for host, control in [key.split("__")]
        ],
        assets={"web1": {"memory_mb": 2048 + night, "serial": "S1"}},
    )


def build(store: Store) -> None:
    # ids with LIKE's wildcards: a prefix is matched literally
    record(store, "n_1", 0, web1__baseline_c1="pass", db1__baseline_c2="fail")
    record(store, "nb2", 1, web1__baseline_c1="fail", db1__baseline_c2="fail")
    record(store, "n%3", 2, mode="check", web1__baseline_c1="fail", db1__baseline_c2="pass")


def reads(db: Any) -> dict[str, Any]:
    newest = q.resolve_run(db, "acme", None)
    first = q.resolve_run(db, "acme", "n_")
    return {
        "newest": newest,
        "before": q.previous_run(db, newest),
        "offset": q.resolve_run(db, "acme", None, offset=1),
        "by_date": q.resolve_run(db, "acme", "2026-10-02"),
        "by_prefix": first,
        "states_now": q.states_of_run(db, newest),
        "states_first": q.states_of_run(db, first),
        "assets": q.assets_at(db, "acme", first.seq),
        "changed": q.changed_tasks(db, newest),
    }


def test_the_reads_return_typed_rows(db_url: str) -> None:
    store = Store.open(db_url)
    build(store)
    with store.reader() as db:
        got = reads(db)
    newest = got["newest"]
    assert (newest.id, newest.mode, newest.diff, newest.full) == ("n%3", "check", True, True)
    assert newest.started_at == START + dt.timedelta(days=2)
    assert newest.started_at.tzinfo is not None
    assert newest.ended_at is not None and newest.ended_at.tzinfo is not None
    assert newest.policies == ["baseline", "assets"]
    assert newest.fingerprints == {"baseline": "fp2"}
    assert [(h.host, h.ok, h.changed) for h in newest.hosts] == [("db1", 5, 1), ("web1", 5, 1)]
    assert got["before"].id == got["offset"].id == got["by_date"].id == "nb2"
    assert got["by_prefix"].id == "n_1"
    now = {(s.host, s.control_id): s for s in got["states_now"]}
    assert now["web1", "baseline_c1"].status == "fail"
    assert now["web1", "baseline_c1"].expected == {"min": 3}
    assert now["db1", "baseline_c2"].expected == "ok"
    assert now["db1", "baseline_c2"].evidence == {"night": 2, "note": "ünïcode"}
    assert now["db1", "baseline_c2"].since_run_seq == newest.seq
    first = {(s.host, s.control_id): (s.status, s.actual) for s in got["states_first"]}
    assert first == {("db1", "baseline_c2"): ("fail", 0), ("web1", "baseline_c1"): ("pass", 0)}
    assert got["assets"] == {"web1": {"memory_mb": 2048, "serial": "S1"}}
    [task] = got["changed"]
    assert (task.host, task.changed, task.details) == (
        "web1",
        True,
        {"path": "/etc/ssh/sshd_config"},
    )

    runs = q.recent_runs(store, "acme", 2)
    assert [r.id for r in runs] == ["n%3", "nb2"]
    shown = run_as_dict(runs[0], tasks=False)
    assert shown["started_at"] == "2026-10-03T01:00:00+00:00"
    assert shown["hosts"]["web1"]["changed"] == 1

    fleet = q.fleet_snapshot(store)
    assert fleet.pairs["acme"]["last"][:2] == (newest.seq, True)
    assert fleet.pairs["acme"]["last"][2] == newest.started_at
    assert fleet.pairs["acme"]["previous"][0] == got["before"].seq
    assert sorted((c.host, c.status, c.previous_status) for c in fleet.changes["acme"]) == [
        ("db1", "pass", "fail")
    ]
    assert fleet.failing == {"acme": 1}
    assert fleet.hosts[newest.seq] == {"web1", "db1"}
    assert fleet.asset_changes["acme"] == 1  # the memory changed every night


def test_the_reads_are_the_same_on_sqlite3_and_through_sqlalchemy(db_url: str) -> None:
    store = Store.open(db_url)
    build(store)
    with store.reader() as db:
        own = reads(db)
    with store.session() as session:
        orm = reads(session)
        also = reads(Reader.of_session(session))
    assert own == orm == also


def test_a_sqlite_store_at_the_head_is_read_without_sqlalchemy(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'mspctl.db'}"
    build(Store.open(url))
    store = Store.open(url)
    assert store._engine is None  # no engine was built to open or to read it
    assert [r.id for r in q.recent_runs(store, None, 5)] == ["n%3", "nb2", "n_1"]
    assert q.fleet_snapshot(store).failing == {"acme": 1}
    assert store._engine is None
    record(store, "n4", 3, web1__baseline_c1="pass")  # a write builds the engine
    assert store._engine is not None
    assert q.recent_runs(store, "acme", 1)[0].id == "n4"
