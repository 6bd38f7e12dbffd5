"""Alertmanager's alerts into incidents, and the SLA result of each incident.

Alertmanager posts webhook payloads (version 4): ``{"version": "4", "status": ..., "alerts":
[{"status": "firing"|"resolved", "labels": {...}, "annotations": {...}, "startsAt": ...,
"endsAt": ..., "fingerprint": ...}, ...]}``. A firing alert opens an incident (or counts a
repeat of the open one with its fingerprint); a resolved alert closes it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mspctl.incidents.businesstime import business_minutes
from mspctl.incidents.sla import calendar_of, due

if TYPE_CHECKING:
    from mspctl.incidents.sla import Clocks
    from mspctl.store import Store
    from mspctl.store.models import Incident

Action = Literal["opened", "repeat", "resolved", "ignored", "acked"]
MAX_ALERTS = 10_000  # one payload; Alertmanager truncates at its max_alerts
_FRACTION = re.compile(r"(\.\d{6})\d+")  # Go writes nanoseconds; Python reads microseconds
_FINGERPRINT = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


class PayloadError(ValueError):
    """The body is not an Alertmanager webhook payload; the message says why."""


@dataclass(frozen=True)
class Alert:
    status: Literal["firing", "resolved"]
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: dt.datetime
    ends_at: dt.datetime | None


@dataclass(frozen=True)
class Event:
    """What one alert did: an incident opened, repeated, resolved (or a resolution of nothing)."""

    action: Action
    incident: Incident | None


def _time(value: Any, what: str) -> dt.datetime | None:
    if not isinstance(value, str):
        raise PayloadError(f"{what} is not a timestamp")
    if value.startswith("0001-01-01"):  # Go's zero time: not set
        return None
    try:
        moment = dt.datetime.fromisoformat(_FRACTION.sub(r"\1", value))
    except ValueError:
        raise PayloadError(f"{what} is not an RFC 3339 timestamp: {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise PayloadError(f"{what} has no UTC offset: {value[:40]!r}")
    return moment.astimezone(dt.UTC)


def _strings(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PayloadError(f"{what} must be an object of strings")
    return value


def parse_payload(data: Any) -> list[Alert]:
    """The alerts of a webhook payload; anything else is a :class:`PayloadError`."""
    if not isinstance(data, dict):
        raise PayloadError("the body must be a JSON object")
    if data.get("version") != "4":
        raise PayloadError(f"unsupported webhook version {str(data.get('version'))[:10]!r}")
    alerts = data.get("alerts")
    if not isinstance(alerts, list) or len(alerts) > MAX_ALERTS:
        raise PayloadError("alerts must be a list")
    out = []
    for number, raw in enumerate(alerts):
        what = f"alerts[{number}]"
        if not isinstance(raw, dict):
            raise PayloadError(f"{what} must be an object")
        status = raw.get("status")
        if status not in ("firing", "resolved"):
            raise PayloadError(f"{what}.status must be firing or resolved")
        fingerprint = raw.get("fingerprint")
        if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
            raise PayloadError(f"{what}.fingerprint is missing or invalid")
        starts = _time(raw.get("startsAt"), f"{what}.startsAt")
        if starts is None:
            raise PayloadError(f"{what}.startsAt is not set")
        out.append(
            Alert(
                status=status,
                fingerprint=fingerprint,
                labels=_strings(raw.get("labels"), f"{what}.labels"),
                annotations=_strings(raw.get("annotations", {}), f"{what}.annotations"),
                starts_at=starts,
                ends_at=_time(raw.get("endsAt", "0001-01-01T00:00:00Z"), f"{what}.endsAt"),
            )
        )
    return out


def new_incident(alert: Alert, clocks: Clocks, now: dt.datetime) -> Incident:
    """The incident a firing alert opens, with its first-response deadline."""
    from mspctl.store.models import Incident

    client = alert.labels.get("mspctl_client") or "unknown"
    clock = clocks.get(client)
    minutes = max(0, round(clock.sla_hours(alert.labels) * 60))
    return Incident(
        fingerprint=alert.fingerprint,
        client=client[:64],
        host=(alert.labels.get("instance") or "")[:255],
        alertname=(alert.labels.get("alertname") or "")[:128],
        severity=(alert.labels.get("severity") or "none")[:16],
        summary=alert.annotations.get("summary", ""),
        labels=dict(alert.labels),
        status="open",
        started_at=alert.starts_at,
        received_at=now,
        last_seen_at=now,
        repeats=0,
        sla_minutes=minutes,
        due_at=due(clock.calendar, alert.starts_at, minutes),
        calendar=dict(clock.calendar),
        acked_at=None,
        acked_by=None,
        ack_note=None,
        resolved_at=None,
        resolved_by=None,
    )


def ingest(store: Store, clocks: Clocks, alerts: Sequence[Alert], now: dt.datetime) -> list[Event]:
    """Record each alert: open, repeat or resolve an incident."""
    events = []
    for alert in alerts:
        if alert.status == "firing":
            row, opened = store.record_firing(new_incident(alert, clocks, now))
            events.append(Event("opened" if opened else "repeat", row))
        else:
            closed = store.record_resolved(alert.fingerprint, alert.ends_at or now)
            events.append(Event("resolved" if closed else "ignored", closed))
    return events


# -- SLA results ------------------------------------------------------------------------------
SlaState = Literal["met", "breached", "pending"]


@dataclass(frozen=True)
class SlaResult:
    state: SlaState
    minutes_used: float  # business minutes from the alert to the response (or to now)
    minutes_left: float  # business minutes before the deadline; negative once breached


def sla_result(incident: Incident, now: dt.datetime) -> SlaResult:
    """Met: acknowledged (or resolved before any response was due) by the deadline. Breached:
    acknowledged late, resolved late without a response, or still unanswered after it.
    Pending: unanswered, deadline ahead."""
    calendar = calendar_of(incident.calendar)
    answered = incident.acked_at or incident.resolved_at
    used = business_minutes(calendar, incident.started_at, answered or now)
    left = incident.sla_minutes - used
    if answered is not None:
        state: SlaState = "met" if answered <= incident.due_at else "breached"
    else:
        state = "breached" if now > incident.due_at else "pending"
    return SlaResult(state, round(used, 2), round(left, 2))


def breaching(
    incidents: Sequence[Incident], now: dt.datetime, within: dt.timedelta
) -> list[Incident]:
    """Unanswered incidents already past their deadline or due within ``within``, soonest first."""
    rows = [
        i
        for i in incidents
        if i.acked_at is None and i.resolved_at is None and i.due_at <= now + within
    ]
    return sorted(rows, key=lambda i: (i.due_at, i.id))


def first_response(incidents: Sequence[Incident], now: dt.datetime) -> dict[str, Any]:
    """A period's first-response performance (the monthly report, billing): incidents opened,
    acknowledged, SLA met / breached / pending at ``now``, and the business minutes from the
    alert to its acknowledgement (median and worst, over the acknowledged ones)."""
    import statistics

    rows = sorted(incidents, key=lambda i: (i.started_at, i.id))
    results = [(i, sla_result(i, now)) for i in rows]
    to_ack = [r.minutes_used for i, r in results if i.acked_at is not None]
    states = [r.state for _, r in results]
    return {
        "opened": len(rows),
        "acknowledged": len(to_ack),
        "met": states.count("met"),
        "breached": states.count("breached"),
        "pending": states.count("pending"),
        "minutes_to_first_response": {
            "median": round(statistics.median(to_ack), 1) if to_ack else None,
            "worst": round(max(to_ack), 1) if to_ack else None,
        },
        "incidents": [
            {
                "id": i.id,
                "host": i.host,
                "alertname": i.alertname,
                "severity": i.severity,
                "started_at": _iso(i.started_at),
                "sla_minutes": i.sla_minutes,
                "due_at": _iso(i.due_at),
                "acked_at": _iso(i.acked_at),
                "acked_by": i.acked_by,
                "state": r.state,
                "business_minutes": r.minutes_used,
            }
            for i, r in results
        ],
    }


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None


def incident_as_dict(incident: Incident, now: dt.datetime) -> dict[str, Any]:
    """An incident for --json, billing and PSA tools."""
    result = sla_result(incident, now)
    return {
        "id": incident.id,
        "fingerprint": incident.fingerprint,
        "client": incident.client,
        "host": incident.host,
        "alertname": incident.alertname,
        "severity": incident.severity,
        "summary": incident.summary,
        "status": incident.status,
        "started_at": _iso(incident.started_at),
        "repeats": incident.repeats,
        "sla": {
            "minutes": incident.sla_minutes,
            "due_at": _iso(incident.due_at),
            "state": result.state,
            "business_minutes_used": result.minutes_used,
            "business_minutes_left": result.minutes_left,
            "calendar": incident.calendar,
        },
        "acked_at": _iso(incident.acked_at),
        "acked_by": incident.acked_by,
        "ack_note": incident.ack_note,
        "resolved_at": _iso(incident.resolved_at),
        "resolved_by": incident.resolved_by,
        "labels": incident.labels,
    }


# -- events to the PSA ------------------------------------------------------------------------
PSA_EVENTS = {
    "opened": "incident.opened",
    "acked": "incident.acked",
    "resolved": "incident.resolved",
}


def publisher(hooks: Any, now: Any = None) -> Any:
    """A callback for the receiver: each opened/resolved incident to the PSA hooks' queue
    (repeats and resolutions of nothing are not events for a ticket)."""

    def publish(events: list[Event]) -> None:
        moment = now() if now else dt.datetime.now(dt.UTC)
        for event in events:
            if event.action in PSA_EVENTS and event.incident is not None:
                hooks.submit(PSA_EVENTS[event.action], incident_as_dict(event.incident, moment))

    return publish


def current_user() -> str:
    import getpass
    import os

    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
