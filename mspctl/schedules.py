"""Schedules as code: the triggers the tiers' patch windows need, and one emitter per scheduler.

A *trigger* is "start ``mspctl run-due`` for these clients at this local wall-clock time on these
days in this time zone". It is computed from each client's tier(s): every window under
``policies.patching.windows`` opens a trigger at its ``start`` on its ``days``, in the client's
``timezone``. Clients whose windows open at the same instant share one trigger (one invocation
with several ``--client``). Window semantics (day rules, DST) come from the collection's
``plugins/module_utils/patch_window.py``, loaded as :func:`mspctl.policies.window_parser` does.

Deliberately *not* part of a trigger, because ``run-due``'s own due check handles them:
blackout dates, durations, reboot windows (the reboot happens inside the patch run), the
client's host list (a tier window with no host of its class just finds nothing due).
A trigger that fires when nothing is due is harmless; one missing is a skipped patch night, so
every emitter errs towards firing (e.g. weekly where a scheduler cannot say "2nd Tuesday").

Each emitter returns ``{file name: content}``, sorted and free of timestamps so that the output
can be committed and diffed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from mspctl.errors import BadInput
from mspctl.policies import window_parser, window_specs

if TYPE_CHECKING:
    from mspctl.workspace import Workspace

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SYSTEMD_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_NTH_DAYS = {1: "01..07", 2: "08..14", 3: "15..21", 4: "22..28"}
_ORDINALS = {"1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "last": -1}
PREFIX = "mspctl-patch"


@dataclass(frozen=True)
class Trigger:
    """Start ``run-due`` for ``clients`` at local ``start`` on ``days`` in ``timezone``.

    ``days`` are patch_window day rules in canonical form (``daily``, ``sat``, ``2nd tue``,
    ``last fri``); ``sources`` say which client/tier/window asked for the trigger.
    """

    timezone: str
    days: tuple[str, ...]
    start: str  # HH:MM
    clients: tuple[str, ...]
    sources: tuple[str, ...]

    @property
    def name(self) -> str:
        """A stable, file-name-safe identifier, e.g. ``europe-paris-sat-2200``."""
        zone = self.timezone.lower().replace("/", "-").replace("_", "-").replace("+", "plus")
        days = "-".join(day.replace(" ", "") for day in self.days)
        return f"{zone}-{days}-{self.start.replace(':', '')}"

    @property
    def hour(self) -> int:
        return int(self.start[:2])

    @property
    def minute(self) -> int:
        return int(self.start[3:])

    def command(self, mspctl: str = "mspctl") -> str:
        return " ".join([mspctl, "run-due", *(f"--client {slug}" for slug in self.clients)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "timezone": self.timezone,
            "days": list(self.days),
            "start": self.start,
            "clients": list(self.clients),
            "sources": list(self.sources),
        }


def _day_key(day: str) -> tuple[int, int]:
    """Order: daily, then by weekday, plain weekday before its Nth forms."""
    if day == "daily":
        return (-1, 0)
    words = day.split()
    if len(words) == 1:
        return (WEEKDAYS.index(words[0]), 0)
    nth = _ORDINALS[words[0]]
    return (WEEKDAYS.index(words[1]), nth if nth > 0 else 5)


def canonical_days(rules: Iterable[Any]) -> tuple[str, ...]:
    """patch_window ``DayRule`` objects (or their strings) as sorted canonical strings.

    ``daily`` absorbs everything; a plain weekday absorbs its Nth forms (``tue`` covers
    ``2nd tue``).
    """
    days = {str(rule) for rule in rules}
    if "daily" in days:
        return ("daily",)
    plain = {day for day in days if " " not in day}
    days = {day for day in days if " " not in day or day.split()[1] not in plain}
    return tuple(sorted(days, key=_day_key))


def compute_triggers(
    workspace: Workspace, clients: Iterable[str] = (), today: dt.date | None = None
) -> list[Trigger]:
    """The triggers the given clients (default: every client) need, sorted.

    A client's windows come from its contracted tier and, while a trial has not ended yet, the
    trial tier too (the union: the schedule stays right across the trial's end, and ``run-due``
    picks the effective tier when it fires). Unknown client: :class:`BadInput` (exit 3).
    """
    registry = workspace.clients
    slugs = sorted(set(clients)) or registry.names()
    parser = window_parser(workspace.config.project_dir)
    if parser is None:
        raise BadInput("the collection's patch window engine is missing", file=WINDOW_FILE)
    wanted: dict[tuple[str, tuple[str, ...], str], tuple[set[str], set[str]]] = {}
    for slug in slugs:
        client = registry.get(slug)
        zone = client.data.timezone
        local_today = today or dt.datetime.now(ZoneInfo(zone)).date()
        tiers = [client.data.contract.tier]
        trial = client.data.contract.trial
        if trial is not None and trial.end >= local_today and trial.tier not in tiers:
            tiers.append(trial.tier)
        for tier_name in tiers:
            block = workspace.catalogue.get(tier_name).tier.enabled_policies.get("patching")
            if block is None:
                continue
            for where, spec in window_specs(block.params):
                if where == "reboot_window" or not isinstance(spec, Mapping):
                    continue
                window = parser.parse_window({**spec, "timezone": zone})
                key = (zone, canonical_days(window.days), window.start.strftime("%H:%M"))
                names, sources = wanted.setdefault(key, (set(), set()))
                names.add(slug)
                sources.add(f"{slug}: {tier_name} policies.patching.{where}")
    triggers = [
        Trigger(zone, days, start, tuple(sorted(names)), tuple(sorted(sources)))
        for (zone, days, start), (names, sources) in wanted.items()
    ]
    return sorted(triggers, key=lambda t: (t.timezone, t.start, [_day_key(d) for d in t.days]))


WINDOW_FILE = "plugins/module_utils/patch_window.py"


# --------------------------------------------------------------------------- systemd


def systemd_calendars(trigger: Trigger) -> list[str]:
    """``OnCalendar=`` expressions for a trigger: every patch_window day rule is expressible.

    ``Nth weekday`` is the weekday on days 01..07 / 08..14 / 15..21 / 22..28; ``last weekday``
    the weekday in the last seven days of the month (``~07/1``: from the 7th-last day on).
    """
    time = f"{trigger.start}:00 {trigger.timezone}"
    if trigger.days == ("daily",):
        return [f"*-*-* {time}"]
    plain = [_SYSTEMD_DAYS[WEEKDAYS.index(d)] for d in trigger.days if " " not in d]
    out = [f"{','.join(plain)} *-*-* {time}"] if plain else []
    for day in trigger.days:
        if " " not in day:
            continue
        ordinal, weekday = day.split()
        name = _SYSTEMD_DAYS[WEEKDAYS.index(weekday)]
        nth = _ORDINALS[ordinal]
        out.append(
            f"{name} *-*~07/1 {time}" if nth == -1 else f"{name} *-*-{_NTH_DAYS[nth]} {time}"
        )
    return out


_SYSTEMD_NOTE = """\
# Generated by `mspctl schedule --emit systemd`; regenerate, do not edit.
# Fires `mspctl run-due` when the patch window opens, in the client's time zone.
# DST (checked with systemd-analyze against patch_window): an ambiguous start at fall-back
# fires once, at its first occurrence, as patch_window opens it. A start skipped by
# spring-forward (e.g. 02:30 on 2026-03-29 in Europe/Rome) does NOT fire that day, while
# patch_window opens the window at the transition (03:00): that night is a missed window for
# run-due's missed-window handling. Every day rule (daily, weekdays, Nth/last weekday) is
# expressed exactly. run-due checks what is due (blackouts, tier, hosts) itself."""


def emit_systemd(triggers: list[Trigger], mspctl: str = "mspctl") -> dict[str, str]:
    """One ``.service`` + ``.timer`` pair per trigger (a distinct zone/days/start)."""
    files: dict[str, str] = {}
    for trigger in triggers:
        unit = f"{PREFIX}-{trigger.name}"
        about = f"Patch windows of {', '.join(trigger.clients)}"
        sources = "\n".join(f"#   {source}" for source in trigger.sources)
        files[f"{unit}.service"] = (
            f"{_SYSTEMD_NOTE}\n# Windows:\n{sources}\n"
            "# The project tree: set MSPCTL_PROJECT_DIR (and MSPCTL_HOME) in a drop-in.\n"
            f"[Unit]\nDescription=mspctl run-due: {about}\n"
            "Wants=network-online.target\nAfter=network-online.target\n\n"
            f"[Service]\nType=oneshot\nExecStart={trigger.command(mspctl)}\n"
        )
        calendars = "\n".join(f"OnCalendar={c}" for c in systemd_calendars(trigger))
        files[f"{unit}.timer"] = (
            f"{_SYSTEMD_NOTE}\n# Windows:\n{sources}\n"
            f"[Unit]\nDescription=Opening of the patch windows of {', '.join(trigger.clients)}\n\n"
            f"[Timer]\n{calendars}\n"
            "# A missed opening is not caught up at boot: run-due finds missed windows itself.\n"
            "Persistent=false\n"
            "# Fire at the opening: run-due spreads the fleet's load, not the timer.\n"
            "RandomizedDelaySec=0\nAccuracySec=1min\n"
            f"Unit={unit}.service\n\n[Install]\nWantedBy=timers.target\n"
        )
    return dict(sorted(files.items()))


# --------------------------------------------------------------------------- cron


def cron_fields(trigger: Trigger) -> tuple[str, str]:
    """``(minute hour dom month dow, note)`` in the trigger's own zone.

    Cron ORs day-of-month with day-of-week, so it cannot say "2nd Tuesday": Nth weekdays become
    the weekday every week (note says so) and run-due's due check skips the wrong weeks.
    """
    if trigger.days == ("daily",):
        return f"{trigger.minute} {trigger.hour} * * *", ""
    weekdays = sorted({(WEEKDAYS.index(d.split()[-1]) + 1) % 7 for d in trigger.days})
    nth = [d for d in trigger.days if " " in d]
    note = (
        f"{', '.join(nth)}: cron cannot express it; fires weekly, run-due skips other weeks"
        if nth
        else ""
    )
    return f"{trigger.minute} {trigger.hour} * * {','.join(map(str, weekdays))}", note


_CRON_HEADER = """\
# Generated by `mspctl schedule --emit cron`; regenerate, do not edit.
# Each CRON_TZ= line sets the zone of the entries below it. CRON_TZ is honoured by cronie
# (Fedora, RHEL, Arch, SUSE; Debian/Ubuntu's `cronie` package) and by busybox/bsd crons that
# document it. Debian/Ubuntu's default `cron` (Vixie 3.0pl1) does NOT honour it: it schedules
# in the system zone and hands CRON_TZ to the job as a plain variable - install cronie there,
# or use the systemd timers (`--emit systemd`).
# DST: for the system zone, Vixie cron and cronie document that a job in the hour skipped by
# spring-forward runs right after the change and one in the repeated hour runs once; not
# verified here for CRON_TZ zones. Spare firings are harmless: run-due checks what is due."""


def emit_cron(triggers: list[Trigger], mspctl: str = "mspctl") -> dict[str, str]:
    """One crontab: a ``CRON_TZ=`` block per zone, one line per trigger."""
    lines = [_CRON_HEADER]
    zone: str | None = None
    for trigger in sorted(triggers, key=lambda t: t.timezone):  # stable: keeps inner order
        if trigger.timezone != zone:
            zone = trigger.timezone
            lines += ["", f"CRON_TZ={zone}"]
        schedule, note = cron_fields(trigger)
        lines.append(f"# {trigger.name}: {'; '.join(trigger.sources)}")
        if note:
            lines.append(f"# {note}")
        lines.append(f"{schedule} {trigger.command(mspctl)}")
    return {"mspctl-patch.crontab": "\n".join(lines) + "\n"}


# --------------------------------------------------------------------------- GitLab CI


def _yaml(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100))


def emit_gitlab_ci(triggers: list[Trigger], mspctl: str = "mspctl") -> dict[str, str]:
    """A ``.gitlab-ci.yml`` fragment: one job per trigger, run by its own pipeline schedule.

    Each schedule (cron in the client's zone, in GitLab's "Cron timezone" field) sets the
    variable ``MSPCTL_TRIGGER`` so that only its job runs.
    """
    header = [
        "# Generated by `mspctl schedule --emit gitlab-ci`; regenerate, do not edit.",
        "# include: this fragment from .gitlab-ci.yml, then create these pipeline schedules",
        "# (Build > Pipeline schedules; interval pattern, cron timezone, variable):",
    ]
    jobs: dict[str, Any] = {}
    for trigger in triggers:
        schedule, note = cron_fields(trigger)
        header.append(
            f"#   {PREFIX}-{trigger.name}: cron '{schedule}', timezone {trigger.timezone}, "
            f"variable MSPCTL_TRIGGER={trigger.name}" + (f"  ({note})" if note else "")
        )
        jobs[f"{PREFIX}-{trigger.name}"] = {
            "rules": [
                {"if": f'$CI_PIPELINE_SOURCE == "schedule" && $MSPCTL_TRIGGER == "{trigger.name}"'}
            ],
            "script": [trigger.command(mspctl)],
        }
    header.append("# DST: GitLab evaluates the cron in the schedule's zone; run-due checks dues.")
    return {"mspctl-patch.gitlab-ci.yml": "\n".join(header) + "\n" + _yaml(jobs)}


# --------------------------------------------------------------------------- GitHub Actions


def zone_offsets(zone: str, year: int) -> list[dt.timedelta]:
    """The UTC offsets a zone uses in a year (mid-January and mid-July), sorted."""
    tz = ZoneInfo(zone)
    offsets = set()
    for month in (1, 7):
        offset = dt.datetime(year, month, 15, 12, tzinfo=tz).utcoffset()
        assert offset is not None
        offsets.add(offset)
    return sorted(offsets)


def utc_crons(trigger: Trigger, year: int) -> list[str]:
    """UTC cron lines firing at the trigger's local start under each offset of its zone.

    The weekday shifts when the UTC time falls on the previous or next day. Nth weekdays fire
    weekly (cron cannot express them); run-due's due check drops the firings that are not due
    (the other offset's, the wrong weeks').
    """
    out: list[str] = []
    for offset in zone_offsets(trigger.timezone, year):
        minutes = trigger.hour * 60 + trigger.minute - int(offset.total_seconds()) // 60
        shift, minutes = divmod(minutes, 24 * 60)
        if trigger.days == ("daily",):
            dow = "*"
        else:
            days = {(WEEKDAYS.index(d.split()[-1]) + 1 + shift) % 7 for d in trigger.days}
            dow = ",".join(map(str, sorted(days)))
        line = f"{minutes % 60} {minutes // 60} * * {dow}"
        if line not in out:
            out.append(line)
    return out


def emit_github_actions(
    triggers: list[Trigger], mspctl: str = "mspctl", year: int | None = None
) -> dict[str, str]:
    """A workflow: ``on: schedule`` with UTC crons, one job per trigger.

    GitHub's cron is UTC only: each trigger gets a cron for its zone's winter and its summer
    offset; a job runs when ``github.event.schedule`` is one of its crons. Off-season firings
    come an hour early or late; run-due's due check finds nothing due (or the window open and
    not yet run) and does the right thing. GitHub may delay scheduled runs under load.
    """
    year = year or dt.date.today().year
    crons: list[str] = []
    jobs: dict[str, Any] = {}
    for trigger in triggers:
        mine = utc_crons(trigger, year)
        crons += [cron for cron in mine if cron not in crons]
        jobs[f"{PREFIX}-{trigger.name}"] = {
            "if": f"contains(fromJSON('{json.dumps(mine)}'), github.event.schedule)",
            "runs-on": "ubuntu-latest",
            "steps": [
                {"uses": "actions/checkout@v4"},
                {"run": trigger.command(mspctl)},
            ],
        }
    workflow = {
        "name": "mspctl patch windows",
        "on": {"schedule": [{"cron": cron} for cron in sorted(crons)]},
        "jobs": jobs,
    }
    header = (
        "# Generated by `mspctl schedule --emit github-actions`; regenerate, do not edit.\n"
        "# GitHub cron is UTC only: each window gets one cron per UTC offset of its zone\n"
        f"# (winter and summer, as in {year}); the off-season one fires an hour early or late\n"
        "# and run-due's due check drops it. GitHub may delay scheduled workflows.\n"
    )
    return {"mspctl-patch.yml": header + _yaml(workflow)}


Emitter = Callable[[list[Trigger], str], dict[str, str]]
EMITTERS: dict[str, Emitter] = {
    "systemd": emit_systemd,
    "cron": emit_cron,
    "gitlab-ci": emit_gitlab_ci,
    "github-actions": emit_github_actions,
}
