"""The monitoring section of the monthly report, read from the MSP's Prometheus HTTP API.

Two ``query_range`` calls over the month, one point an hour, on the labels the monitoring role
gives every target (``mspctl_client``, ``instance``):

- availability: ``up{mspctl_client="<client>"}``; a host's availability is the share of its
  hourly samples that were 1;
- alerts: ``ALERTS{mspctl_client="<client>", alertstate="firing"}``; per severity, the distinct
  alerts (alert name and instance) and the hours they fired.

A client without ``monitoring.prometheus_url`` in its client.yml is "not monitored"; a
Prometheus that cannot be reached or answers an error gives one line in the report, never a
crash. Standard library only (urllib), so the report needs no HTTP client package.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mspctl.clients import Client

STEP_SECONDS = 3600
# Prometheus servers found unreachable by this process, with the reason: `report --all` asks
# each once, not once per client (a thousand clients behind a dead server would each wait for
# the timeout)
_UNREACHABLE: dict[str, str] = {}


class MonitoringUnavailable(Exception):
    """Prometheus could not be read; the message is one line for the report. ``connection``:
    the server could not be reached at all (not worth asking again for the next client)."""

    def __init__(self, message: str, *, connection: bool = False) -> None:
        super().__init__(message)
        self.connection = connection


def monitoring_section(client: Client, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    link = client.data.monitoring
    if link is None:
        return {"status": "not_monitored"}
    now = dt.datetime.now(dt.UTC)
    end = min(end, now)
    if end <= start:
        return {"status": "ok", "url": link.prometheus_url, "hosts": [], "alerts": []}
    selector = f'mspctl_client="{client.slug}"'
    if link.prometheus_url in _UNREACHABLE:
        return {
            "status": "unreachable",
            "url": link.prometheus_url,
            "error": _UNREACHABLE[link.prometheus_url],
        }
    try:
        up = query_range(link.prometheus_url, f"up{{{selector}}}", start, end, link.timeout_seconds)
        alerts = query_range(
            link.prometheus_url,
            f'ALERTS{{{selector},alertstate="firing"}}',
            start,
            end,
            link.timeout_seconds,
        )
    except MonitoringUnavailable as exc:
        if exc.connection:
            _UNREACHABLE[link.prometheus_url] = str(exc)
        return {"status": "unreachable", "url": link.prometheus_url, "error": str(exc)}
    return {"status": "ok", "url": link.prometheus_url, **summarize(up, alerts)}


def summarize(up: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """Availability per host and alerts per severity from two ``query_range`` matrices."""
    samples: dict[str, list[float]] = defaultdict(list)
    for series in up:
        instance = str(series.get("metric", {}).get("instance", "?"))
        samples[instance] += [float(v) for _t, v in series.get("values", [])]
    hosts = [
        {
            "host": instance.split(":")[0],
            "instance": instance,
            "availability": round(100.0 * sum(1 for v in values if v >= 1) / len(values), 2),
            "samples": len(values),
        }
        for instance, values in sorted(samples.items())
        if values
    ]
    distinct: dict[str, set[tuple[str, str]]] = defaultdict(set)
    hours: Counter[str] = Counter()
    names: dict[str, Counter[str]] = defaultdict(Counter)
    for series in alerts:
        metric = series.get("metric", {})
        severity = str(metric.get("severity") or "none")
        name = str(metric.get("alertname", "?"))
        distinct[severity].add((name, str(metric.get("instance", ""))))
        count = len(series.get("values", []))
        hours[severity] += count
        names[severity][name] += count
    order = {"critical": 0, "warning": 1, "info": 2}
    by_severity = [
        {
            "severity": severity,
            "alerts": len(distinct[severity]),
            "hours": hours[severity],
            "top": [n for n, _ in sorted(names[severity].items(), key=lambda x: (-x[1], x[0]))][:3],
        }
        for severity in sorted(distinct, key=lambda s: (order.get(s, 9), s))
    ]
    return {"hosts": hosts, "alerts": by_severity}


def query_range(
    base_url: str, query: str, start: dt.datetime, end: dt.datetime, timeout: float
) -> list[dict[str, Any]]:
    """``GET /api/v1/query_range``: the result matrix, or :class:`MonitoringUnavailable`."""
    import urllib.error
    import urllib.parse
    import urllib.request

    params = urllib.parse.urlencode(
        {
            "query": query,
            "start": f"{start.timestamp():.0f}",
            "end": f"{end.timestamp():.0f}",
            "step": str(STEP_SECONDS),
        }
    )
    url = f"{base_url}/api/v1/query_range?{params}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only (validated in client.yml)
            body = json.loads(response.read(32 * 1024 * 1024))
    except urllib.error.HTTPError as exc:
        detail = ""
        with contextlib.suppress(ValueError, OSError, AttributeError):
            detail = str(json.loads(exc.read(4096)).get("error") or "")
        raise MonitoringUnavailable(
            f"Prometheus answered HTTP {exc.code}{': ' + detail[:200] if detail else ''}"
        ) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise MonitoringUnavailable(
            f"Prometheus unreachable: {str(reason)[:200]}", connection=True
        ) from None
    except ValueError:
        raise MonitoringUnavailable("Prometheus answered something that is not JSON") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise MonitoringUnavailable(f"Prometheus query failed: {str(error)[:200]}")
    data = body.get("data") or {}
    result = data.get("result") if isinstance(data, dict) else None
    if not isinstance(result, list):
        raise MonitoringUnavailable("Prometheus answered without a result matrix")
    return [s for s in result if isinstance(s, dict)]
