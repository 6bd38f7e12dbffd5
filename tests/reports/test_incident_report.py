"""The monthly report's first-response section, from incidents written through the real store
(``Store.record_firing``, ``ack_incident``, ``record_resolved``) for client rossi's October 2026
(Europe/Rome, support 08:00-18:00 Monday to Friday): one answered in time, one answered late
(a breach across a weekend), one resolved before anyone answered, and one of November that
the October report leaves out."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from mspctl.incidents.sla import due
from mspctl.store import Store
from mspctl.store.models import Incident

from .conftest import CLIENT, ZONE

ROME_OFFICE = {
    "timezone": "Europe/Rome",
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "start": "08:00",
    "end": "18:00",
    "country": "IT",
}


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZONE).astimezone(dt.UTC)


def incident(fingerprint: str, started: str, minutes: int, host: str = "srv01") -> Incident:
    start = local(started)
    return Incident(
        fingerprint=fingerprint,
        client=CLIENT,
        host=f"{host}:9100",
        alertname="MspctlHostDown",
        severity="critical",
        summary=f"{host} is down",
        labels={"alertname": "MspctlHostDown", "mspctl_client": CLIENT},
        status="open",
        started_at=start,
        received_at=start,
        last_seen_at=start,
        repeats=0,
        sla_minutes=minutes,
        due_at=due(ROME_OFFICE, start, minutes),
        calendar=dict(ROME_OFFICE),
        acked_at=None,
        acked_by=None,
        ack_note=None,
        resolved_at=None,
        resolved_by=None,
    )


@pytest.fixture
def incidents_month(month_project: Any, home: Path) -> dict[str, int]:
    store = Store.open(f"sqlite:///{home / 'mspctl.db'}")
    try:
        ids = {}
        # Thursday 1 October 09:00, answered at 09:20: met, 20 business minutes
        row, _ = store.record_firing(incident("a", "2026-10-01 09:00", 60))
        store.ack_incident(row.id, "anna", local("2026-10-01 09:20"))
        ids["met"] = row.id
        # Friday 2 October 17:30, due Monday 08:30, answered Monday 09:00: breached, 90 minutes
        row, _ = store.record_firing(incident("b", "2026-10-02 17:30", 60, "srv02"))
        store.ack_incident(row.id, "bruno", local("2026-10-05 09:00"))
        ids["breached"] = row.id
        # Tuesday 6 October 10:00, resolved by Alertmanager at 10:30, nobody answered: met
        row, _ = store.record_firing(incident("c", "2026-10-06 10:00", 120, "ws01"))
        store.record_resolved("c", local("2026-10-06 10:30"))
        ids["resolved"] = row.id
        # November: another month's report
        row, _ = store.record_firing(incident("d", "2026-11-02 10:00", 60))
        ids["november"] = row.id
        return ids
    finally:
        store.engine.dispose()


def test_first_response_figures_in_the_json(cli: Any, incidents_month: dict[str, int]) -> None:
    result = cli("report", CLIENT, "--month", "2026-10", "--format", "json")
    assert result.exit_code == 0, result.output
    section = json.loads(result.stdout)["first_response"]
    assert {k: section[k] for k in ("opened", "acknowledged", "met", "breached", "pending")} == {
        "opened": 3,
        "acknowledged": 2,
        "met": 2,
        "breached": 1,
        "pending": 0,
    }
    # business minutes to the acknowledgement: 20 and 30 (Friday) + 60 (Monday)
    assert section["minutes_to_first_response"] == {"median": 55.0, "worst": 90.0}
    by_id = {row["id"]: row for row in section["incidents"]}
    assert set(by_id) == {incidents_month[k] for k in ("met", "breached", "resolved")}
    late = by_id[incidents_month["breached"]]
    assert (late["state"], late["business_minutes"], late["acked_by"]) == (
        "breached",
        90.0,
        "bruno",
    )
    assert late["due_at"] == "2026-10-05T06:30:00Z"  # Monday 08:30 in Rome (CEST)
    assert by_id[incidents_month["resolved"]]["acked_at"] is None


def test_first_response_section_in_both_languages(
    cli: Any, tmp_path: Path, incidents_month: dict[str, int]
) -> None:
    target = tmp_path / "it.html"
    result = cli("report", CLIENT, "--month", "2026-10", "-o", str(target))
    assert result.exit_code == 0, result.output
    html = target.read_text(encoding="utf-8")
    section = html[html.index('<section id="first-response">') :]
    section = section[: section.index("</section>")]
    assert "Prima risposta" in section and "SLA non rispettato" in section
    cells = [c.split("</td>")[0] for c in section.split('<td class="num">')[1:]]
    assert cells == ["3", "2", "2", "1", "55", "90"]
    english = tmp_path / "en.html"
    result = cli("report", CLIENT, "--month", "2026-10", "--lang", "en", "-o", str(english))
    assert result.exit_code == 0, result.output
    assert "business minutes to first response (worst)" in english.read_text(encoding="utf-8")


def test_a_month_without_incidents_says_so(cli: Any, tmp_path: Path, month_project: Any) -> None:
    result = cli("report", CLIENT, "--month", "2026-10", "--format", "json")
    assert result.exit_code == 0, result.output
    section = json.loads(result.stdout)["first_response"]
    assert section["opened"] == 0 and section["incidents"] == []
    assert section["minutes_to_first_response"] == {"median": None, "worst": None}
    target = tmp_path / "en.html"
    result = cli("report", CLIENT, "--month", "2026-10", "--lang", "en", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert "No incident was opened this month." in target.read_text(encoding="utf-8")
