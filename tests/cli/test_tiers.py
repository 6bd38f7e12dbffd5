from __future__ import annotations


def test_platinum_resolved_with_contract_terms(cli):
    data = cli.json("tiers", "show", "platinum")
    contract = data["contract"]
    assert contract["first_response_hours"] == {"default": 2.0, "servers": 1.0}
    assert contract["onsite_callout_discount_percent"] == 50
    assert contract["review_meetings"] == {"per_year": 1, "hours": 2.0}
    assert contract["all_inclusive_assistance"] is True
    assert contract["evening_weekend_support"] == "scheduled"
    assert data["reporting"]["cadence"] == "monthly"
    assert data["inherits"] == ["bronze", "silver", "gold"]
    policies = data["policies"]
    # the whole mission list: assets+warranty, monitoring, patching, backups, printers
    for name in ("assets", "monitoring", "patching", "backup_agent", "printers"):
        assert policies[name]["enabled"] is True, name
    assert policies["assets"]["warranty_tracking"] is True
    # inherited from bronze, never restated by platinum
    assert policies["backup_agent"]["schedule"] == "*-*-* 01:00:00"


def test_tiers_list_orders_roots_first(cli):
    names = [row["name"] for row in cli.json("tiers", "list")]
    assert names == ["bronze", "silver", "gold", "platinum"]


def test_diff_gold_platinum_names_the_differences(cli):
    data = cli.json("tiers", "diff", "gold", "platinum")
    changes = {c["key"]: c for c in data["changes"]}
    assert changes["contract.first_response_hours.default"]["to"] == 2.0
    assert changes["contract.first_response_hours.servers"]["from"] == 2.0
    assert changes["contract.onsite_callout_discount_percent"]["to"] == 50
    assert changes["policies.printers.enabled"]["kind"] == "gained"
    assert changes["contract.all_inclusive_assistance"]["kind"] == "gained"
    result = cli("tiers", "diff", "platinum", "bronze")
    assert result.exit_code == 0, result.output
    assert "policies.patching.enabled" in result.output


def test_bronze_has_no_patching_nor_printers(cli):
    policies = cli.json("tiers", "show", "bronze")["policies"]
    assert policies["patching"]["enabled"] is False
    assert policies["printers"]["enabled"] is False
    assert policies["backup_agent"]["restore_test_interval_days"] == 30
