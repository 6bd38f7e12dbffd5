"""The monthly client report, end to end: a month written through the real store, the CLI,
both languages, the HTML in headless Chromium, the PDF rasterised by poppler."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from needs import unavailable
from sqlalchemy import func, select

from mspctl.reports import pdf

from .conftest import CLIENT, FakePrometheus, write_client

CHROMIUM = shutil.which("chromium")
FLAGS = [*pdf.FLAGS, "--enable-logging=stderr", "--v=0"]  # the printer's, with the console


def month_json(cli, *extra: str) -> dict:
    result = cli("report", CLIENT, "--month", "2026-10", "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def store_counts(home: Path) -> dict[str, int]:
    """The month's figures counted straight from the store's tables."""
    from mspctl.store import Store
    from mspctl.store.models import Run, RunHost, TaskRecord

    store = Store.open(f"sqlite:///{home / 'mspctl.db'}")
    try:
        with store.session() as session:

            def count(query):
                return session.scalar(select(func.count()).select_from(query.subquery()))

            return {
                "runs": count(select(Run.id).where(Run.client == CLIENT)),
                "failed_runs": count(select(Run.id).where(Run.status == "failed")),
                "unreachable": count(select(RunHost.host).where(RunHost.unreachable > 0)),
                "sessions": count(
                    select(TaskRecord.id).where(
                        TaskRecord.action.endswith("apt_upgrade"), TaskRecord.changed.is_(True)
                    )
                ),
                "reboots": count(
                    select(TaskRecord.id).where(
                        TaskRecord.action.endswith("reboot"), TaskRecord.changed.is_(True)
                    )
                ),
                "restore_tests": count(
                    select(TaskRecord.id).where(
                        TaskRecord.action.endswith("restore_test"), TaskRecord.changed.is_(True)
                    )
                ),
            }
    finally:
        store.engine.dispose()


def test_summary_figures_are_the_store_counts(cli, home, month_project):
    data = month_json(cli)
    s = data["summary"]
    counted = store_counts(home)
    expected = month_project
    assert s["runs"] == counted["runs"] == expected.runs == 31
    assert s["broke"]["failed_runs"] == counted["failed_runs"] == expected.failed_runs == 1
    assert s["broke"]["unreachable"] == counted["unreachable"] == expected.unreachable == 1
    assert s["patching"]["sessions"] == counted["sessions"] == expected.sessions
    assert s["patching"]["security_updates"] == expected.security_updates > 0
    assert s["patching"]["other_updates"] == expected.other_updates > 0
    assert s["patching"]["reboots"] == counted["reboots"] == expected.reboots == 1
    assert s["patching"]["hosts_patched"] == len(expected.patched_hosts) == 3
    assert s["backups"]["restore_tests"] == counted["restore_tests"] == expected.restore_tests
    assert s["backups"]["restore_passed"] == expected.restore_tests
    assert s["backups"]["ok"] == expected.backup_ok
    assert s["backups"]["failed"] == expected.backup_failed == 2
    assert s["backups"]["unreachable"] == 1
    # srv02 missed the window of the 10th (unreachable) and caught up on the 11th (patch events)
    assert data["patching"]["missed"] == [
        {
            "host": "srv02",
            "date": "2026-10-10",
            "failure": True,
            "caught_up": "2026-10-11",
            "outside_window": True,
        }
    ]
    assert s["patching"]["pending"] == 3  # ws01's three security updates at the month's end
    ws01 = next(r for r in data["backups"]["calendar"] if r["host"] == "ws01")
    assert ws01["days"][4:7] == ["failed", "failed", "ok"]
    # ssh root login drifted on the 12th (waived), fixed on the 13th; the backup drift too
    assert {(c["control"], c["date"]) for c in data["compliance"]["fixed"]} == {
        ("baseline.ssh_root_login", "2026-10-13"),
        ("backup_agent.snapshot_age", "2026-10-07"),
    }
    assert len(data["compliance"]["trend"]) == 31
    kinds = {(d["kind"], d["host"]) for d in s["decisions"]}
    assert kinds == {
        ("warranty_ending", "srv01"),
        ("warranty_expired", "srv02"),
        ("waiver_expiring", "ws01"),
    }
    newest = [t for t in data["backups"]["restore_tests"] if t["evidence"]]
    assert {(t["host"], t["files"], t["checksums_match"]) for t in newest} == {
        ("srv01", 10, True),
        ("srv02", 10, True),
    }
    assert [b["reason"] for b in data["maintenance"]] == ["Sostituzione dischi RAID"]
    assert data["monitoring"]["status"] == "ok"
    assert {h["host"]: h["availability"] for h in data["monitoring"]["hosts"]}["srv01"] == 100.0
    assert [(a["severity"], a["alerts"]) for a in data["monitoring"]["alerts"]] == [
        ("critical", 1),
        ("warning", 2),
    ]
    assert data["contract"]["first_response_hours"] == {"default": 2, "servers": 1}


def test_html_is_self_contained_and_in_the_clients_language(cli, tmp_path, month_project):
    target = tmp_path / "it.html"
    result = cli("report", CLIENT, "--month", "2026-10", "-o", str(target))
    assert result.exit_code == 0, result.output
    html = target.read_text(encoding="utf-8")
    assert re.search(r"https?://", html) is None
    assert "<script" not in html and "@import" not in html and "@font-face" not in html
    assert 'src="data:image/svg+xml;base64,' in html  # the logo, embedded
    assert html.count("<svg") >= 4  # compliance, patching, availability, alerts
    assert "Rapporto mensile di servizio" in html
    assert "31 ottobre 2026" in html
    assert "48.213" in html  # bytes restored, Italian grouping
    assert "98,66\u00a0%" in html  # availability of srv02, Italian decimals


def test_pdf_is_a4_with_page_numbers_brand_and_italian_text(cli, tmp_path, month_project):
    if shutil.which("chromium") is None or shutil.which("pdftoppm") is None:
        unavailable("needs chromium and poppler-utils (scripts/setup-host)")
    target = tmp_path / "rossi.pdf"
    result = cli("report", CLIENT, "--month", "2026-10", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:5] == b"%PDF-"
    info = subprocess.run(["pdfinfo", str(target)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))
    assert "(A4)" in info.stdout
    text = subprocess.run(
        ["pdftotext", "-layout", str(target), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Bianchi Informatica srl" in text
    assert "Rapporto mensile di servizio" in text
    assert f"Pagina 1 / {pages}" in text and f"Pagina {pages} / {pages}" in text
    assert "dal 1 ottobre 2026 al 31 ottobre 2026" in text
    subprocess.run(
        ["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(target), str(tmp_path / "p")],
        check=True,
    )
    page = next(tmp_path.glob("p*.png"))
    assert page.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and page.stat().st_size > 10_000
    assert not list(tmp_path.glob(".rossi.pdf.*")), "a partial PDF was left behind"
    leftovers = subprocess.run(["pgrep", "-f", "mspctl-pdf-"], capture_output=True, text=True)
    assert leftovers.stdout == "", "a chromium of the PDF printer is still running"


def test_english_html_opens_in_chromium_with_the_summary(cli, tmp_path, month_project):
    if CHROMIUM is None:
        unavailable("needs chromium (scripts/setup-host)")
    target = tmp_path / "en.html"
    result = cli("report", CLIENT, "--month", "2026-10", "--lang", "en", "-o", str(target))
    assert result.exit_code == 0, result.output
    screenshot = tmp_path / "en.png"
    shot = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1000,1600",
            f"--screenshot={screenshot}",
            target.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.returncode == 0, shot.stderr
    assert screenshot.stat().st_size > 10_000
    console = [line for line in shot.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    dom = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile2'}",
            "--dump-dom",
            target.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    s = month_json(cli)["summary"]
    backups = re.search(r'id="sum-backups">(.*?)</p>', dom, re.S).group(1)
    assert f"Daily backups completed: {s['backups']['ok']} of {s['backups']['host_days']}" in (
        backups
    )
    assert "can be restored: 8 of 8" in backups
    assert "Monthly service report" in dom
    assert "October 31, 2026" in dom
    assert "48,213" in dom and "98.66&nbsp;%" in dom  # serialised by the DOM dump


def test_two_renderings_differ_only_by_generation_time(cli, tmp_path, month_project):
    texts = []
    for name in ("a.html", "b.html"):
        result = cli("report", CLIENT, "--month", "2026-10", "-o", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        texts.append((tmp_path / name).read_text(encoding="utf-8"))
    strip = re.compile(r"<footer>.*?</footer>", re.S)
    assert strip.sub("", texts[0]) == strip.sub("", texts[1])


def test_a_month_without_runs_is_a_clear_report(cli, tmp_path, month_project):
    target = tmp_path / "sept.html"
    result = cli("report", CLIENT, "--month", "2026-09", "--lang", "en", "-o", str(target))
    assert result.exit_code == 0, result.output
    html = target.read_text(encoding="utf-8")
    assert 'id="no-data"' in html and "No runs recorded this month" in html


def test_monitoring_absent_or_unreachable_is_a_line_not_a_crash(cli, project, home, tmp_path):
    from .conftest import write_month

    write_client(project, None, language="en")
    write_month(f"sqlite:///{home / 'mspctl.db'}")
    data = month_json(cli)
    assert data["monitoring"] == {"status": "not_monitored"}
    html = cli("report", CLIENT, "--month", "2026-10", "--format", "html").stdout
    assert 'id="not-monitored"' in html
    # a Prometheus that is gone: its port is closed
    gone = FakePrometheus()
    url = gone.url
    gone.stop()
    client_yml = project / "inventories" / CLIENT / "client.yml"
    client_yml.write_text(
        client_yml.read_text() + f"monitoring: {{prometheus_url: '{url}', timeout_seconds: 2}}\n"
    )
    result = cli("report", CLIENT, "--month", "2026-10", "--format", "html")
    assert result.exit_code == 0, result.output
    assert 'id="monitoring-unreachable"' in result.stdout
    assert "Prometheus unreachable" in result.stdout


def test_all_writes_one_file_per_client(cli, tmp_path, month_project):
    out = tmp_path / "out"
    out.mkdir()
    result = cli("report", "--all", "--month", "2026-10", "--format", "html", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["demo-2026-10.html", "rossi-2026-10.html"]
    assert "No runs recorded this month" in (out / "demo-2026-10.html").read_text()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["rossi", "--month", "2999-01"], "--month: 2999-01 is in the future"),
        (["rossi", "--month", "2026-13"], "--month: expected a month YYYY-MM"),
        (["rossi", "--month", "october"], "--month: expected a month YYYY-MM"),
        (["rossi", "--month", "2026-1"], "--month: expected a month YYYY-MM"),
        (["nobody", "--month", "2026-10"], "unknown client 'nobody'"),
        (["rossi", "--month", "2026-10", "--lang", "fr"], "--lang"),
        (["rossi", "--month", "2026-10", "--format", "sarif"], "--format"),
        (["rossi", "--month", "2026-10", "--run", "x"], "--run"),
        (["--all", "--month", "2026-10"], "-o"),
        (["rossi", "--month", "2026-10", "--format", "pdf"], "-o"),
        (["rossi", "--lang", "it"], "--lang: only with --month"),
    ],
)
def test_bad_input_exits_3_with_one_line_naming_the_option(cli, month_project, args, words):
    result = cli("report", *args)
    assert result.exit_code == 3, result.output
    assert words in result.output
    errors = [line for line in result.output.splitlines() if line.lower().startswith("error")]
    assert len(errors) == 1, result.output  # one line (click adds its usage above it)


def test_the_snapshot_report_still_works(cli, month_project):
    result = cli("report", CLIENT, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["run"]["id"] == "run-31"


def test_an_open_missed_window_needs_a_decision(cli, home, month_project):
    import datetime as dt

    from mspctl.store import Store
    from mspctl.store.models import PatchEvent

    store = Store.open(f"sqlite:///{home / 'mspctl.db'}")
    at = dt.datetime(2026, 10, 24, 0, 30, tzinfo=dt.UTC)
    store.add_patch_events(
        [
            PatchEvent(
                client=CLIENT,
                host="ws01",
                kind="missed",
                host_class="workstations",
                at=at,
                recorded_at=at,
                run_id=None,
                failure=False,
                detail="unreachable during its workstations window",
            )
        ]
    )
    store.engine.dispose()
    data = month_json(cli, "--lang", "en")
    assert data["summary"]["patching"]["missed"] == 2
    assert data["summary"]["patching"]["caught_up"] == 1
    assert {"kind": "missed_patching", "host": "ws01", "date": "2026-10-24"} in data["summary"][
        "decisions"
    ]
    html = cli("report", CLIENT, "--month", "2026-10", "--lang", "en").stdout
    assert "ws01 missed its update window on October 24, 2026" in html


def test_all_in_worker_processes_writes_the_same_reports(
    cli, project, home, tmp_path, month_project, monkeypatch
):
    from mspctl.reports import publish
    from mspctl.reports.monthly import Month
    from mspctl.workspace import Workspace

    monkeypatch.setattr(publish, "MIN_PER_WORKER", 1)
    workspace = Workspace(project_dir=project, home=home, db_url=f"sqlite:///{home / 'mspctl.db'}")
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    slugs = ["demo", CLIENT]
    for folder, jobs in ((one, 1), (two, 2)):
        written = publish.monthly_reports(
            workspace,
            slugs,
            Month(2026, 10),
            fmt="json",
            lang=None,
            targets=lambda slug, folder=folder: folder / f"{slug}.json",
            jobs=jobs,
        )
        assert [p.name for p in written] == ["demo.json", "rossi.json"]
    for slug in slugs:
        a, b = (json.loads((f / f"{slug}.json").read_text()) for f in (one, two))
        a.pop("generated_at")
        b.pop("generated_at")
        assert a == b


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("language: fr\n", "language"),
        ("monitoring: {prometheus_url: 'ftp://x'}\n", "monitoring.prometheus_url"),
    ],
)
def test_an_invalid_client_setting_is_bad_input(cli, project, line, key):
    write_client(project, None, language="en")
    client_yml = project / "inventories" / CLIENT / "client.yml"
    client_yml.write_text(client_yml.read_text().replace("language: en\n", line))
    result = cli("report", CLIENT, "--month", "2026-10")
    assert result.exit_code == 3, result.output
    assert f"inventories/{CLIENT}/client.yml: {key}" in result.output


@pytest.mark.parametrize(
    ("zone", "utc", "date"),
    [
        ("Europe/Rome", "2026-11-30T23:30:00+00:00", "2026-12-01"),  # a CI run once failed here
        ("Pacific/Kiritimati", "2026-11-30T10:30:00+00:00", "2026-12-01"),  # UTC+14
        ("Pacific/Pago_Pago", "2026-12-01T05:00:00+00:00", "2026-11-30"),  # UTC-11
        ("UTC", "2026-11-30T23:59:59+00:00", "2026-11-30"),
    ],
)
def test_the_clients_date_is_the_one_in_its_time_zone(zone, utc, date):
    import datetime as dt
    from types import SimpleNamespace

    from mspctl.reports.monthly import client_today

    client = SimpleNamespace(data=SimpleNamespace(timezone=zone))
    now = dt.datetime.fromisoformat(utc)
    assert client_today(client, now).isoformat() == date  # type: ignore[arg-type]


def _set_zone(project: Path, zone: str) -> None:
    path = project / "inventories" / CLIENT / "client.yml"
    text = re.sub(r"(?m)^timezone: .*$", f"timezone: {zone}", path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")


def test_a_month_has_begun_when_it_has_begun_where_the_client_is(cli, project, month_project):
    """The month the client is in is never refused as "in the future" (even when UTC is still
    in the month before), and the month after it always is, with the client's date."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    _set_zone(project, "Pacific/Kiritimati")  # first in the world into each month
    here = dt.datetime.now(ZoneInfo("Pacific/Kiritimati"))
    result = cli("report", CLIENT, "--month", f"{here:%Y-%m}", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["month"] == f"{here:%Y-%m}"
    review = cli("review", CLIENT, "--year", f"{here:%Y}", "--format", "json")
    assert review.exit_code == 0, review.output

    _set_zone(project, "Pacific/Pago_Pago")  # last
    there = dt.datetime.now(ZoneInfo("Pacific/Pago_Pago"))
    later = (there.replace(day=28) + dt.timedelta(days=4)).strftime("%Y-%m")
    result = cli("report", CLIENT, "--month", later, "--format", "json")
    assert result.exit_code == 3, result.output
    assert f"--month: {later} is in the future (today is " in result.output
