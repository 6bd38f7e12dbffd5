"""``mspctl review``: the review-meeting pack of a year."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from needs import unavailable

from .conftest import CLIENT


def review_json(cli, *extra: str) -> dict:
    result = cli("review", CLIENT, "--year", "2026", "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_year_per_month_recurring_failures_and_warranty_plan(cli, month_project):
    data = review_json(cli)
    october = next(m for m in data["months"] if m["month"] == "2026-10")
    monthly = json.loads(cli("report", CLIENT, "--month", "2026-10", "--format", "json").stdout)[
        "summary"
    ]
    assert october["runs"] == monthly["runs"] == 31
    assert october["backups_ok"] == monthly["backups"]["ok"]
    assert october["sessions"] == monthly["patching"]["sessions"]
    assert october["missed"] == 1 and october["caught_up"] == 1
    assert all(m["runs"] == 0 for m in data["months"] if m["month"] != "2026-10")
    assert {
        "kind": "backup_failed",
        "host": "ws01",
        "control": None,
        "title": None,
        "times": 2,
    } in (data["recurring"])
    plan = {(w["host"], w["status"]) for w in data["warranty_plan"]}
    assert ("srv02", "expired") in plan
    assert "ws01" not in {host for host, _ in plan}  # its warranty ends in 2028
    assert data["upgrade"]["from"] == "platinum" and data["upgrade"]["to"] is None


def test_the_upgrade_page_is_the_tiers_diff_to_the_next_tier(cli, project, month_project):
    client_yml = project / "inventories" / CLIENT / "client.yml"
    client_yml.write_text(client_yml.read_text().replace("tier: platinum", "tier: gold"))
    data = review_json(cli)
    assert data["upgrade"]["to"] == "platinum"
    tiers = cli("tiers", "diff", "gold", "platinum", "--json")
    assert data["upgrade"]["changes"] == json.loads(tiers.stdout)["changes"]
    html = cli("review", CLIENT, "--year", "2026", "--lang", "it").stdout
    assert "Il vostro prossimo livello di servizio" in html
    assert 'id="upgrade-changes"' in html and "contract.all_inclusive_assistance" in html


def test_review_pdf_in_italian(cli, tmp_path, month_project):
    if shutil.which("chromium") is None or shutil.which("pdftotext") is None:
        unavailable("needs chromium and poppler-utils (scripts/setup-host)")
    target = tmp_path / "review.pdf"
    result = cli("review", CLIENT, "--year", "2026", "-o", str(target))
    assert result.exit_code == 0, result.output
    text = subprocess.run(
        ["pdftotext", "-layout", str(target), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Revisione annuale 2026" in text
    assert re.search(r"Pagina 1 / \d+", text)
    assert "ottobre" in text


@pytest.mark.parametrize(
    ("year", "words"),
    [("2999", "--year: 2999 is in the future"), ("26", "--year: expected a year YYYY")],
)
def test_bad_year_exits_3(cli, month_project, year, words):
    result = cli("review", CLIENT, "--year", year)
    assert result.exit_code == 3, result.output
    assert words in result.output


def test_unknown_client_exits_3(cli, month_project):
    result = cli("review", "nobody", "--year", "2026")
    assert result.exit_code == 3, result.output
    assert "unknown client 'nobody'" in result.output
