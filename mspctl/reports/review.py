"""The review-meeting pack of a client's year (``mspctl review CLIENT --year YYYY``).

Built from the same derivation as the monthly report (:func:`mspctl.reports.monthly.derive`),
one month at a time: the year per month, the failures that came back, the warranty
replacement plan for the next 12 months and, as the upgrade page, what the client gains moving
from its contract tier to the next one (:func:`mspctl.catalogue.diff_tiers`, the code of
``mspctl tiers diff``). Monitoring is left to the monthly reports (one Prometheus read per
month would make the pack depend on twelve of them).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from mspctl import __version__
from mspctl.errors import BadInput
from mspctl.reports.monthly import ACTIONS_READ, CONTROLS_READ, Month, derive

if TYPE_CHECKING:
    from mspctl.catalogue import Catalogue
    from mspctl.workspace import Workspace

REVIEW_FORMAT_VERSION = 1
PLAN_DAYS = 365  # warranties ending within a year of the review enter the replacement plan
RECURRING = 2  # a failure seen this many times in the year is recurring
_YEAR = re.compile(r"^\d{4}$")


def parse_year(value: str, today: dt.date, *, key: str = "--year") -> int:
    if not _YEAR.match(value) or int(value) < 1:
        raise BadInput(f"expected a year YYYY, got {value[:40]!r}", key=key)
    year = int(value)
    if year > today.year:
        raise BadInput(f"{year} is in the future (today is {today.isoformat()})", key=key)
    return year


def next_tier(catalogue: Catalogue, tier: str) -> str | None:
    """The tier that extends ``tier`` (the next step up), if exactly one does."""
    above = [n for n in catalogue.names if catalogue.get(n).tier.extends == tier]
    return above[0] if len(above) == 1 else None


def build_review(
    workspace: Workspace,
    slug: str,
    year: int,
    *,
    today: dt.date,
    lang: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    from mspctl.catalogue import diff_tiers
    from mspctl.store.queries import month_history

    client = workspace.clients.get(slug)
    zone = ZoneInfo(client.data.timezone)
    waivers = workspace.waivers(client)
    months = [Month(year, m) for m in range(1, 13) if dt.date(year, m, 1) <= today]
    derived: list[dict[str, Any]] = []
    with workspace.store.session() as session:
        for month in months:
            start, end = month.bounds(zone)
            history = month_history(
                session, client.slug, start, end, controls=CONTROLS_READ, actions=ACTIONS_READ
            )
            derived.append(derive(history, month, zone, waivers))
    reference = min(dt.date(year, 12, 31), today)
    catalogue = workspace.catalogue
    tier = client.data.contract.tier
    upgrade_to = next_tier(catalogue, tier)
    contract = catalogue.get(tier).tier.contract.model_dump(mode="json", exclude_none=True)
    return {
        "format_version": REVIEW_FORMAT_VERSION,
        "year": year,
        "lang": lang or client.data.language,
        "reference": reference.isoformat(),
        "client": {
            "id": client.slug,
            "name": client.data.name,
            "timezone": client.data.timezone,
            "tier": tier,
        },
        "months": [_month_row(d) for d in derived],
        "no_data": all(d["no_data"] for d in derived),
        "recurring": _recurring(derived),
        "warranty_plan": _warranty_plan(derived, reference),
        "upgrade": {
            "from": tier,
            "to": upgrade_to,
            "title": catalogue.get(upgrade_to).tier.title if upgrade_to else None,
            "summary": catalogue.get(upgrade_to).tier.summary if upgrade_to else None,
            "changes": (
                diff_tiers(catalogue.get(tier), catalogue.get(upgrade_to)) if upgrade_to else []
            ),
        },
        "contract": contract,
        "generated_at": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "generator": f"mspctl {__version__}",
    }


def _month_row(data: dict[str, Any]) -> dict[str, Any]:
    s = data["summary"]
    return {
        "month": data["month"],
        "runs": s["runs"],
        "backups_ok": s["backups"]["ok"],
        "backup_days": s["backups"]["host_days"],
        "restore_tests": s["backups"]["restore_tests"],
        "restore_passed": s["backups"]["restore_passed"],
        "sessions": s["patching"]["sessions"],
        "missed": s["patching"]["missed"],
        "caught_up": s["patching"]["caught_up"],
        "drift_found": s["broke"]["drift_found"],
        "drift_fixed": s["prevented"]["drift_fixed"],
        "failed_runs": s["broke"]["failed_runs"],
        "score": data["compliance"]["score_end"],
    }


def _recurring(derived: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failures seen at least :data:`RECURRING` times in the year, most frequent first."""
    counts: Counter[tuple[str, str, str]] = Counter()
    titles: dict[tuple[str, str, str], str] = {}
    for data in derived:
        for change in data["compliance"]["found"]:
            key = ("drift", change["host"], change["control"])
            counts[key] += 1
            titles[key] = change["title"]
        for miss in data["patching"]["missed"]:
            counts[("missed_patching", miss["host"], "")] += 1
        for row in data["backups"]["calendar"]:
            if row["failed"]:
                counts[("backup_failed", row["host"], "")] += row["failed"]
        for test in data["backups"]["restore_tests"]:
            if test["result"] == "fail":
                counts[("restore_failed", test["host"], "")] += 1
    return [
        {
            "kind": kind,
            "host": host,
            "control": control or None,
            "title": titles.get((kind, host, control)),
            "times": n,
        }
        for (kind, host, control), n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))
        if n >= RECURRING
    ]


def _warranty_plan(derived: list[dict[str, Any]], reference: dt.date) -> list[dict[str, Any]]:
    """The newest month with asset records: warranties expired or ending within a year."""
    for data in reversed(derived):
        warranties = data["assets"]["warranties"]
        if not warranties:
            continue
        plan = []
        for w in warranties:
            ends = dt.date.fromisoformat(w["ends"])
            left = (ends - reference).days
            if left <= PLAN_DAYS:
                plan.append(
                    {
                        **w,
                        "days_left": left,
                        "status": "expired" if left < 0 else "ending",
                        "quarter": f"{ends.year}-Q{(ends.month - 1) // 3 + 1}"
                        if left >= 0
                        else None,
                    }
                )
        return sorted(plan, key=lambda w: (w["ends"], w["host"]))
    return []
