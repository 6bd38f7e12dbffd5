"""Schedules as code: triggers from the tiers' windows, and what each emitter writes.

The systemd timers are checked by systemd itself (``systemd-analyze calendar``) against
patch_window's own occurrences across the Europe/Rome DST changes of 2026 (spring forward
Sunday 2026-03-29 02:00 -> 03:00, fall back Sunday 2026-10-25 03:00 -> 02:00).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from needs import unavailable

from mspctl import schedules
from mspctl.policies import window_parser
from mspctl.schedules import Trigger
from mspctl.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
PW = window_parser(ROOT)
UTC = dt.UTC
ROME = "Europe/Rome"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
# the project copy's demo runs its platinum trial from 29 days before today to 30 days after
IN_TRIAL = dt.date.today()
AFTER_TRIAL = IN_TRIAL + dt.timedelta(days=40)


def trigger(days: tuple[str, ...], start: str, zone: str = ROME, clients=("acme",)) -> Trigger:
    return Trigger(zone, days, start, tuple(clients), ("acme: test",))


# --------------------------------------------------------------------------- triggers


def test_demo_triggers_from_silver_and_the_running_platinum_trial(project, home):
    ws = Workspace(project_dir=project, home=home)
    triggers = schedules.compute_triggers(ws, today=IN_TRIAL)
    assert [t.as_dict() for t in triggers] == [
        {
            "name": "europe-paris-tue-thu-1900",
            "timezone": "Europe/Paris",
            "days": ["tue", "thu"],
            "start": "19:00",
            "clients": ["demo"],
            "sources": [
                "demo: platinum policies.patching.windows.workstations",
                "demo: silver policies.patching.windows.workstations",
            ],
        },
        {
            "name": "europe-paris-sat-2200",
            "timezone": "Europe/Paris",
            "days": ["sat"],
            "start": "22:00",
            "clients": ["demo"],
            "sources": [
                "demo: platinum policies.patching.windows.servers",
                "demo: silver policies.patching.windows.servers",
            ],
        },
    ]
    # after the trial: the contracted tier only
    later = schedules.compute_triggers(ws, today=AFTER_TRIAL)
    assert all("platinum" not in s for t in later for s in t.sources)


def _add_client(project: Path, slug: str, zone: str, tier: str = "silver") -> None:
    target = project / "inventories" / slug
    shutil.copytree(project / "inventories" / "demo", target)
    text = (target / "client.yml").read_text()
    text = text.replace("timezone: Europe/Paris", f"timezone: {zone}")
    text = text.replace("tier: silver", f"tier: {tier}", 1)
    (target / "client.yml").write_text(text)


def test_clients_sharing_a_trigger_share_one_invocation(project, home):
    _add_client(project, "bakery", "Europe/Paris")
    _add_client(project, "roma", ROME)
    _add_client(project, "basic", ROME, tier="bronze")  # no patching: no trigger
    ws = Workspace(project_dir=project, home=home)
    triggers = schedules.compute_triggers(ws, today=AFTER_TRIAL)
    by_name = {t.name: t for t in triggers}
    assert sorted(by_name) == [
        "europe-paris-sat-2200",
        "europe-paris-tue-thu-1900",
        "europe-rome-sat-2200",
        "europe-rome-tue-thu-1900",
    ]
    assert by_name["europe-paris-sat-2200"].clients == ("bakery", "demo")
    assert by_name["europe-paris-sat-2200"].command() == (
        "mspctl run-due --client bakery --client demo"
    )
    assert by_name["europe-rome-sat-2200"].clients == ("roma",)
    only = schedules.compute_triggers(ws, ["roma"], today=AFTER_TRIAL)
    assert {t.clients for t in only} == {("roma",)}


def test_unknown_client_is_bad_input(project, home):
    from mspctl.errors import BadInput, ExitCode

    with pytest.raises(BadInput) as info:
        schedules.compute_triggers(Workspace(project_dir=project, home=home), ["nope"])
    assert info.value.exit_code == ExitCode.BAD_INPUT


def test_canonical_days():
    assert PW is not None
    days = PW.parse_window({"days": ["2nd tue", "sat", "tue", "last fri"], **_base()}).days
    assert schedules.canonical_days(days) == ("tue", "last fri", "sat")
    assert schedules.canonical_days(["sun", "daily"]) == ("daily",)


def _base() -> dict[str, str]:
    return {"start": "22:00", "duration": "4h", "timezone": ROME}


# --------------------------------------------------------------------------- systemd


def test_systemd_calendars_cover_every_day_rule():
    assert schedules.systemd_calendars(trigger(("daily",), "02:30")) == [
        "*-*-* 02:30:00 Europe/Rome"
    ]
    assert schedules.systemd_calendars(trigger(("tue", "last fri", "sat"), "22:00")) == [
        "Tue,Sat *-*-* 22:00:00 Europe/Rome",
        "Fri *-*~07/1 22:00:00 Europe/Rome",
    ]
    assert schedules.systemd_calendars(trigger(("1st mon", "2nd tue", "4th sun"), "01:00")) == [
        "Mon *-*-01..07 01:00:00 Europe/Rome",
        "Tue *-*-08..14 01:00:00 Europe/Rome",
        "Sun *-*-22..28 01:00:00 Europe/Rome",
    ]


def test_systemd_units_for_a_shared_trigger():
    files = schedules.emit_systemd(
        [trigger(("sat",), "22:00", clients=("a", "b"))], mspctl="/usr/local/bin/mspctl"
    )
    assert list(files) == [
        "mspctl-patch-europe-rome-sat-2200.service",
        "mspctl-patch-europe-rome-sat-2200.timer",
    ]
    service = files["mspctl-patch-europe-rome-sat-2200.service"]
    assert "ExecStart=/usr/local/bin/mspctl run-due --client a --client b\n" in service
    timer = files["mspctl-patch-europe-rome-sat-2200.timer"]
    for line in (
        "OnCalendar=Sat *-*-* 22:00:00 Europe/Rome",
        "Persistent=false",
        "RandomizedDelaySec=0",
        "Unit=mspctl-patch-europe-rome-sat-2200.service",
        "WantedBy=timers.target",
    ):
        assert f"\n{line}\n" in timer, line


def _systemd_elapses(expression: str, base: dt.datetime, iterations: int) -> list[dt.datetime]:
    result = subprocess.run(
        [
            SYSTEMD_ANALYZE,
            "calendar",
            f"--iterations={iterations}",
            f"--base-time={base:%Y-%m-%d %H:%M:%S} UTC",
            expression,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
        check=True,
    )
    found = re.findall(
        r"(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", result.stdout
    )
    assert len(found) == iterations, result.stdout
    return [dt.datetime.fromisoformat(text).replace(tzinfo=UTC) for text in found]


def _patch_window_starts(spec: dict, base: dt.datetime, count: int) -> list[dt.datetime]:
    assert PW is not None
    window = PW.parse_window(spec)
    day = base.astimezone(window.tzinfo).date() - dt.timedelta(days=1)
    starts: list[dt.datetime] = []
    while len(starts) < count:
        occurrence = PW.occurrence_on(window, day)
        if occurrence is not None and occurrence.start_utc > base:
            starts.append(occurrence.start_utc)
        day += dt.timedelta(days=1)
    return starts


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


SPRING = _utc("2026-03-25 12:00:00")
AUTUMN = _utc("2026-10-21 12:00:00")

# (days, start, base, iterations, instants patch_window has and systemd lacks, and vice versa)
CASES = [
    # 02:30 does not exist on 2026-03-29: patch_window opens the window at the transition
    # (03:00 CEST = 01:00 UTC); systemd skips the day. The only difference.
    (("daily",), "02:30", SPRING, 10, {_utc("2026-03-29 01:00:00")}, set()),
    # 02:30 happens twice on 2026-10-25: both take the first (CEST, 00:30 UTC). Identical.
    (("daily",), "02:30", AUTUMN, 10, set(), set()),
    (("sat",), "22:00", SPRING, 4, set(), set()),
    (("sat",), "22:00", AUTUMN, 4, set(), set()),
    # Sunday 02:30 at both changes
    (("sun",), "02:30", SPRING, 3, {_utc("2026-03-29 01:00:00")}, set()),
    (("sun",), "02:30", AUTUMN, 3, set(), set()),
    (("2nd tue", "last fri"), "22:00", SPRING, 8, set(), set()),
    (("1st sun",), "02:30", AUTUMN, 4, set(), set()),
]


@pytest.mark.parametrize(("days", "start", "base", "count", "only_pw", "only_systemd"), CASES)
def test_systemd_elapses_match_patch_window_across_dst(
    days, start, base, count, only_pw, only_systemd
):
    if not Path(SYSTEMD_ANALYZE).exists():
        unavailable("needs systemd-analyze (Debian's systemd)")
    expected = _patch_window_starts(
        {"days": list(days), "start": start, "duration": "1h", "timezone": ROME}, base, count
    )
    got: set[dt.datetime] = set()
    for expression in schedules.systemd_calendars(trigger(days, start)):
        got |= set(_systemd_elapses(expression, base, count))
    horizon = expected[-1]
    got = {instant for instant in got if instant <= horizon}
    assert set(expected) - got == only_pw
    assert got - set(expected) == only_systemd


# --------------------------------------------------------------------------- cron

CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _parse_crontab(text: str) -> list[tuple[str | None, list[set[int]], str]]:
    """(CRON_TZ, expanded fields, command) of every entry; fails on a malformed line."""
    zone: str | None = None
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("CRON_TZ="):
            zone = line.split("=", 1)[1]
            continue
        fields = line.split(None, 5)
        expanded = []
        for field, (low, high) in zip(fields[:5], CRON_RANGES, strict=True):
            values = (
                set(range(low, high + 1))
                if field == "*"
                else {int(part) for part in field.split(",")}
            )
            assert all(low <= v <= high for v in values), line
            expanded.append(values)
        entries.append((zone, expanded, fields[5]))
    return entries


def test_crontab_groups_entries_by_zone():
    files = schedules.emit_cron(
        [
            trigger(("sat",), "22:00", "Europe/Paris", ("demo",)),
            trigger(("daily",), "02:30", ROME),
            trigger(("2nd tue", "fri"), "21:15", ROME),
        ]
    )
    (name, text), *_ = files.items()
    assert name == "mspctl-patch.crontab"
    assert [line for line in text.splitlines() if line.startswith("CRON_TZ=")] == [
        "CRON_TZ=Europe/Paris",
        "CRON_TZ=Europe/Rome",
    ]
    assert "Debian" in text and "DST" in text
    entries = _parse_crontab(text)
    assert [(z, f[0], f[1], f[4], c) for z, f, c in entries] == [
        ("Europe/Paris", {0}, {22}, {6}, "mspctl run-due --client demo"),
        (ROME, {30}, {2}, set(range(0, 8)), "mspctl run-due --client acme"),
        (ROME, {15}, {21}, {2, 5}, "mspctl run-due --client acme"),  # 2nd tue: weekly
    ]
    assert "2nd tue: cron cannot express it" in text


# --------------------------------------------------------------------------- CI


def test_gitlab_fragment_has_a_job_per_trigger():
    triggers = [trigger(("sat",), "22:00"), trigger(("tue", "thu"), "19:00", clients=("a", "b"))]
    (name, text), *_ = schedules.emit_gitlab_ci(triggers).items()
    assert name == "mspctl-patch.gitlab-ci.yml"
    data = yaml.safe_load(text)
    assert data == {
        "mspctl-patch-europe-rome-sat-2200": {
            "rules": [
                {
                    "if": '$CI_PIPELINE_SOURCE == "schedule" && '
                    '$MSPCTL_TRIGGER == "europe-rome-sat-2200"'
                }
            ],
            "script": ["mspctl run-due --client acme"],
        },
        "mspctl-patch-europe-rome-tue-thu-1900": {
            "rules": [
                {
                    "if": '$CI_PIPELINE_SOURCE == "schedule" && '
                    '$MSPCTL_TRIGGER == "europe-rome-tue-thu-1900"'
                }
            ],
            "script": ["mspctl run-due --client a --client b"],
        },
    }
    assert "cron '0 22 * * 6', timezone Europe/Rome, variable MSPCTL_TRIGGER=" in text


def test_utc_crons_for_winter_and_summer():
    # Rome: +01:00 in winter, +02:00 in summer
    assert schedules.utc_crons(trigger(("sat",), "22:00"), 2026) == [
        "0 21 * * 6",
        "0 20 * * 6",
    ]
    # 00:30 local on Sunday is Saturday in UTC
    assert schedules.utc_crons(trigger(("sun",), "00:30"), 2026) == [
        "30 23 * * 6",
        "30 22 * * 6",
    ]
    # a zone without DST: one cron; a half-hour zone shifts minutes
    assert schedules.utc_crons(trigger(("daily",), "02:00", "Asia/Kolkata"), 2026) == [
        "30 20 * * *"
    ]


def test_github_workflow_is_valid_yaml_with_utc_crons():
    triggers = [trigger(("sat",), "22:00"), trigger(("daily",), "02:30", "UTC", ("u",))]
    (name, text), *_ = schedules.emit_github_actions(triggers, year=2026).items()
    assert name == "mspctl-patch.yml"
    data = yaml.safe_load(text)
    assert sorted(c["cron"] for c in data["on"]["schedule"]) == [
        "0 20 * * 6",
        "0 21 * * 6",
        "30 2 * * *",
    ]
    jobs = data["jobs"]
    assert set(jobs) == {"mspctl-patch-europe-rome-sat-2200", "mspctl-patch-utc-daily-0230"}
    rome = jobs["mspctl-patch-europe-rome-sat-2200"]
    assert "0 21 * * 6" in rome["if"] and "0 20 * * 6" in rome["if"]
    assert rome["steps"][-1] == {"run": "mspctl run-due --client acme"}
    assert "UTC only" in text


def test_output_is_deterministic(project, home):
    ws = Workspace(project_dir=project, home=home)
    for emit, emitter in schedules.EMITTERS.items():
        first = emitter(schedules.compute_triggers(ws, today=IN_TRIAL), "mspctl")
        again = emitter(schedules.compute_triggers(ws, today=IN_TRIAL), "mspctl")
        assert first == again, emit
