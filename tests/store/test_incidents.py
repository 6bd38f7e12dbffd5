"""Incidents in the run store, on SQLite and PostgreSQL: open, repeat, resolve, ack."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from incident_payloads import alert, payload, resolved

from mspctl.errors import BadInput
from mspctl.incidents.service import ingest, parse_payload, sla_result
from mspctl.incidents.sla import ClientClock
from mspctl.store import Store
from mspctl.store.queries import find_incident, incidents

ROME_OFFICE = {
    "timezone": "Europe/Rome",
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "start": "08:00",
    "end": "18:00",
    "country": "IT",
}
NOW = dt.datetime(2026, 12, 4, 16, 31, tzinfo=dt.UTC)


class OneClock:
    """Every client on the Rome office clock, platinum's first response."""

    def get(self, slug: str) -> ClientClock:
        return ClientClock(dict(ROME_OFFICE), {"default": 2.0, "servers": 1.0})


def record(store: Store, *alerts: dict) -> list[str]:
    events = ingest(store, OneClock(), parse_payload(payload(*alerts)), NOW)  # type: ignore[arg-type]
    return [e.action for e in events]


def test_a_firing_alert_opens_one_incident_and_repeats_count(db_url: str) -> None:
    store = Store.open(db_url)
    assert record(store, alert("aaa1"), alert("bbb2", host="srv2", sla_hours="")) == [
        "opened",
        "opened",
    ]
    assert record(store, alert("aaa1")) == ["repeat"]
    rows = {i.fingerprint: i for i in incidents(store)}
    assert len(rows) == 2
    first = rows["aaa1"]
    assert (first.client, first.host, first.severity, first.repeats) == (
        "acme",
        "srv1",
        "critical",
        1,
    )
    # Friday 17:30 in Rome, 60 business minutes: Monday 08:30 (07:30 UTC)
    assert first.due_at == dt.datetime(2026, 12, 7, 7, 30, 0, 123456, tzinfo=dt.UTC)
    assert first.started_at == dt.datetime(2026, 12, 4, 16, 30, 0, 123456, tzinfo=dt.UTC)
    # no sla_hours label: the contract's time for the class (servers: 1 h)
    assert rows["bbb2"].sla_minutes == 60


def test_resolved_closes_and_a_new_firing_opens_a_new_incident(db_url: str) -> None:
    store = Store.open(db_url)
    record(store, alert("aaa1"))
    end = dt.datetime(2026, 12, 7, 7, 0, tzinfo=dt.UTC)
    assert record(store, resolved("aaa1", end)) == ["resolved"]
    assert record(store, resolved("aaa1", end)) == ["ignored"]
    assert record(store, alert("aaa1", starts="2026-12-09T10:00:00Z")) == ["opened"]
    old, new = sorted(incidents(store), key=lambda i: i.id)
    assert (old.status, old.resolved_at, old.resolved_by) == ("resolved", end, "alertmanager")
    assert new.status == "open"
    # resolved 07:00 UTC Monday, before the 07:30 deadline, with 30 business minutes used
    result = sla_result(old, NOW)
    assert (result.state, result.minutes_used) == ("met", 30.0)


def test_ack_and_resolve_by_hand(db_url: str) -> None:
    store = Store.open(db_url)
    record(store, alert("aaa1"))
    (row,) = incidents(store)
    late = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)  # 09:00 in Rome: 30 min late
    acked = store.ack_incident(row.id, "anna", late, "called the client")
    assert (acked.status, acked.acked_by, acked.ack_note) == ("acked", "anna", "called the client")
    assert sla_result(acked, late).state == "breached"
    assert sla_result(acked, late).minutes_used == 90
    with pytest.raises(BadInput, match="already acknowledged by anna"):
        store.ack_incident(row.id, "bob", late)
    store.resolve_incident(row.id, "anna", late)
    with pytest.raises(BadInput, match=f"incident {row.id} was resolved"):
        store.ack_incident(row.id, "bob", late)
    with pytest.raises(BadInput, match=f"incident {row.id} was resolved"):
        store.resolve_incident(row.id, "bob", late)
    with pytest.raises(BadInput, match="unknown incident 999"):
        store.ack_incident(999, "bob", late)
    with pytest.raises(BadInput, match="unknown incident 999"):
        find_incident(store, 999)
    stored = find_incident(store, row.id)
    assert (stored.acked_by, stored.resolved_by, stored.status) == ("anna", "anna", "resolved")


def test_the_same_alert_from_many_threads_opens_one_incident(db_url: str) -> None:
    """Two Alertmanagers (an HA pair) post the same alert at once: one incident, the rest are
    repeats (the partial unique index decides, whoever inserts first)."""
    store = Store.open(db_url)
    barrier = threading.Barrier(4)
    actions: list[str] = []

    def post() -> None:
        barrier.wait()
        actions.extend(record(store, alert("race1")))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(actions) == ["opened", "repeat", "repeat", "repeat"]
    (row,) = incidents(store)
    assert row.repeats == 3
