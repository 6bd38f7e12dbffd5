"""Each client's SLA clock: its support hours (tier contract), time zone and country (client.yml),
and the first-response time of an alert's host (the ``sla_hours`` label the monitoring role puts
on every scrape target, else the contract's time for the host's class)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mspctl.incidents.businesstime import BusinessCalendar, country_holidays

if TYPE_CHECKING:
    from mspctl.workspace import Workspace

DEFAULT_COUNTRY = "IT"
ZONE_TAB = Path("/usr/share/zoneinfo/zone.tab")
# an alert of a client mspctl does not know (no client.yml): the clock runs all the time, in
# UTC, with a one-hour SLA unless the alert carries sla_hours. It pages early rather than late.
UNKNOWN_CLIENT = {
    "timezone": "UTC",
    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "start": "00:00",
    "end": "23:59",
    "country": "",
}
UNKNOWN_SLA_HOURS = 1.0
CACHE_SECONDS = 300.0  # tier and client files are re-read at most this often by a receiver


@cache
def _zone_countries() -> dict[str, str]:
    try:
        lines = ZONE_TAB.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in lines:
        fields = line.split("\t")
        if not line.startswith("#") and len(fields) >= 3:
            out[fields[2]] = fields[0]
    return out


def client_country(timezone: str, given: str | None) -> str:
    """The client's country: client.yml's ``country``, else that of its time zone, else IT."""
    return given or _zone_countries().get(timezone, DEFAULT_COUNTRY)


@cache
def _holidays(country: str) -> Any:
    return country_holidays(country) if country else frozenset()


def calendar_of(spec: dict[str, Any]) -> BusinessCalendar:
    """The business calendar an incident row keeps (``Incident.calendar``)."""
    return BusinessCalendar.of(
        spec["timezone"], spec["days"], spec["start"], spec["end"], _holidays(spec["country"])
    )


@dataclass(frozen=True)
class ClientClock:
    calendar: dict[str, Any]  # timezone, days, start, end, country
    first_response: dict[str, float]  # host class (or "default") -> hours

    def sla_hours(self, labels: dict[str, str]) -> float:
        given = labels.get("sla_hours", "")
        try:
            if given:
                return float(given)
        except ValueError:
            pass
        classes = [c for c in labels.get("mspctl_class", "").split(",") if c]
        hours = [self.first_response.get(c, self.first_response["default"]) for c in classes]
        return min(hours) if hours else self.first_response["default"]


class Clocks:
    """The clocks of the workspace's clients, re-read every ``CACHE_SECONDS``."""

    def __init__(self, workspace: Workspace, ttl: float = CACHE_SECONDS) -> None:
        self.workspace = workspace
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, ClientClock]] = {}

    def get(self, slug: str) -> ClientClock:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(slug)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
            clock = self._load(slug)
            self._cache[slug] = (now, clock)
            return clock

    def warm(self) -> int:
        """Load every client's clock and its holidays now (a receiver's first alert then does
        not wait for the inventories to be read). Returns how many clients were loaded."""
        names = self.workspace.clients.names()
        for slug in names:
            calendar_of(self.get(slug).calendar).is_business_day(dt.date.today())
        return len(names)

    def _load(self, slug: str) -> ClientClock:
        from mspctl.errors import MspctlError

        try:
            client = self.workspace.clients.get(slug)
            tier = self.workspace.catalogue.get(client.effective_tier().name).tier
        except MspctlError:
            return ClientClock(dict(UNKNOWN_CLIENT), {"default": UNKNOWN_SLA_HOURS})
        hours = tier.contract.support_hours
        first = tier.contract.first_response_hours
        classes = {k: float(v) for k, v in first.model_dump(exclude_none=True).items()}
        return ClientClock(
            {
                "timezone": client.data.timezone,
                "days": list(hours.days),
                "start": hours.start,
                "end": hours.end,
                "country": client_country(client.data.timezone, client.data.country),
            },
            classes,
        )


def due(calendar: dict[str, Any], start: dt.datetime, minutes: int) -> dt.datetime:
    from mspctl.incidents.businesstime import deadline

    return deadline(calendar_of(calendar), start, minutes)
