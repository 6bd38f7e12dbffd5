"""Monitoring's maintenance windows come from the tier's patch windows (run context)."""

from __future__ import annotations

from pathlib import Path

from mspctl.catalogue import Catalogue
from mspctl.engine import maintenance_windows

TIERS = Path(__file__).resolve().parents[2] / "tiers"


def test_tiers_with_patching_pass_their_windows():
    catalogue = Catalogue.load(TIERS)
    windows = maintenance_windows(catalogue.get("platinum"))
    assert set(windows) == {"servers", "workstations"}
    assert windows["servers"]["days"] == ["sat"]
    assert windows["servers"]["start"] == "22:00"


def test_a_tier_without_patching_has_no_maintenance_window():
    assert maintenance_windows(Catalogue.load(TIERS).get("bronze")) == {}


def test_blackout_dates_travel_with_each_window(tmp_path):
    target = tmp_path / "tiers"
    target.mkdir()
    for tier in TIERS.glob("*.yml"):
        (target / tier.name).write_text(tier.read_text())
    gold = target / "gold.yml"
    gold.write_text(
        gold.read_text().replace(
            "    scope: all", '    scope: all\n    blackout_dates: ["2026-12-24"]'
        )
    )
    windows = maintenance_windows(Catalogue(target, project_dir=TIERS.parent).get("gold"))
    assert all(w["blackout_dates"] == ["2026-12-24"] for w in windows.values())
