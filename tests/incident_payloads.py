"""Alertmanager webhook payloads (version 4), as Alertmanager 0.25+ posts them."""

from __future__ import annotations

import datetime as dt
from typing import Any


def alert(
    fingerprint: str,
    *,
    status: str = "firing",
    client: str = "acme",
    host: str = "srv1",
    name: str = "MspctlHostDown",
    severity: str = "critical",
    starts: str = "2026-12-04T16:30:00.123456789Z",  # Friday 17:30 in Rome
    ends: str = "0001-01-01T00:00:00Z",
    sla_hours: str = "1",
    host_class: str = "servers",
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": name,
            "instance": host,
            "job": "mspctl",
            "mspctl_client": client,
            "mspctl_class": host_class,
            "mspctl_severity": severity,
            "mspctl_tier": "platinum",
            "severity": severity,
            "sla_hours": sla_hours,
        },
        "annotations": {"summary": f"{host} is down", "description": "The MSP cannot scrape it."},
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": "http://monitor:9090/graph?g0.expr=up+%3D%3D+0",
        "fingerprint": fingerprint,
    }


def payload(*alerts: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": "mspctl-incidents",
        "status": status or ("firing" if firing else "resolved"),
        "alerts": list(alerts),
        "groupLabels": {"alertname": alerts[0]["labels"].get("alertname", "")} if alerts else {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://monitor:9093",
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="MspctlHostDown"}',
        "truncatedAlerts": 0,
    }


def resolved(fingerprint: str, ends: dt.datetime, **kwargs: Any) -> dict[str, Any]:
    return alert(
        fingerprint,
        status="resolved",
        ends=ends.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        **kwargs,
    )
