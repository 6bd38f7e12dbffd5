"""``mspctl clients list --trials`` and bad trials as exit 3, on a copy of the project."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

ZONE = "Europe/Paris"
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "projects" / "fleet"


def make_client(cli, slug: str, **contract) -> dict:
    made = cli("clients", "new", slug, "--tier", "gold", "--timezone", ZONE)
    assert made.exit_code == 0, made.output
    path = cli.project / "inventories" / slug / "client.yml"
    data = yaml.safe_load(path.read_text())
    data["contract"].update(contract)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return data


def today() -> dt.date:
    return dt.datetime.now(ZoneInfo(ZONE)).date()


def days(n: int) -> str:
    return (today() + dt.timedelta(n)).isoformat()


def test_trials_ending_within_n_days_with_what_the_client_loses(cli):
    trial = {"tier": "platinum", "start": days(-10), "end": days(5), "offer": "platinum-60"}
    make_client(cli, "trialco", start=days(-100), trial=trial)
    listed = cli("clients", "list", "--trials", "--within", "4", "--json")
    assert listed.exit_code == 0, listed.output
    assert "trialco" not in {t["client"] for t in json.loads(listed.stdout)}

    listed = cli("clients", "list", "--trials", "--within", "5", "--json")
    assert listed.exit_code == 0, listed.output
    (row,) = [t for t in json.loads(listed.stdout) if t["client"] == "trialco"]
    assert (row["tier"], row["end"], row["days_left"], row["after"]) == (
        "platinum",
        days(5),
        5,
        "gold",
    )
    lost = {c["key"] for c in row["loses"] if c["kind"] == "lost"}
    assert "policies.printers.enabled" in lost  # what `tiers diff platinum gold` says
    changed = {c["key"]: (c["from"], c["to"]) for c in row["loses"]}
    assert changed["policies.monitoring.scrape_interval"] == ("30s", "60s")

    table = cli("clients", "list", "--trials", "--within", "5")
    assert table.exit_code == 0, table.output
    assert "trialco" in table.output and "policies.printers.enabled" in table.output


def _bad(result, *parts: str) -> None:
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    for part in parts:
        assert part in result.output, (part, result.output)


def test_a_trial_longer_than_its_offer_is_bad_input(cli):
    trial = {"tier": "platinum", "start": days(-1), "end": days(60)}  # 62 days
    make_client(cli, "longco", start=days(-100), trial=trial)
    for command in (("clients", "show", "longco"), ("apply", "longco")):
        _bad(cli(*command), "inventories/longco/client.yml", "contract.trial.end", "62 days")


def test_a_trial_before_the_contract_or_overlapping_another_is_bad_input(cli):
    early = {"tier": "platinum", "start": days(-20), "end": days(-10)}
    make_client(cli, "earlyco", start=days(-15), trial=early)
    _bad(cli("clients", "show", "earlyco"), "contract.trial.start", "before the contract")

    first = {"tier": "platinum", "start": days(-50), "end": days(-30)}
    second = {"tier": "platinum", "start": days(-30), "end": days(-20)}
    make_client(cli, "twiceco", start=days(-100), trial=first, trials=[second])
    _bad(cli("drift", "twiceco"), "contract.trials[0].start", "overlaps")
    # the list names the broken client and still exits 3
    _bad(cli("clients", "list", "--trials"), "twiceco", "earlyco")


def test_a_broken_offers_file_names_its_key(cli):
    offers = cli.project / "tiers" / "offers.yml"
    data = yaml.safe_load(offers.read_text())
    data["offers"]["platinum-60"]["tier"] = "diamond"
    offers.write_text(yaml.safe_dump(data))
    _bad(cli("clients", "show", "demo"), "tiers/offers.yml", "offers.platinum-60.tier", "diamond")
    data["offers"]["platinum-60"]["tier"] = "platinum"
    data["offers"]["platinum-60"]["days"] = "sixty"
    offers.write_text(yaml.safe_dump(data))
    _bad(cli("clients", "show", "demo"), "tiers/offers.yml", "offers.platinum-60.days")
    # the offers file is no tier
    listed = cli("tiers", "list", "--json")
    offers.unlink()
    assert listed.exit_code == 0, listed.output
    assert "offers" not in {t["name"] for t in json.loads(listed.stdout)}


def test_the_nightly_summary_announces_the_trials_ending_soon(tmp_path, receivers):
    """run-due on the fleet fixture: beta's trial ends in 5 days; the webhook's summary says
    so, with what beta loses (the tiers diff of its trial tier and its contract)."""
    import shutil

    from tests.cli.conftest import Receiver
    from tests.conftest import Cli

    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project)
    (project / "tiers" / "silverplus.yml").write_text(
        "name: silverplus\nextends: silver\ntitle: Silver plus\nsummary: Silver, all inclusive.\n"
        "contract: {all_inclusive_assistance: true}\n"
    )
    client_file = project / "inventories" / "beta" / "client.yml"
    data = yaml.safe_load(client_file.read_text())
    data["contract"]["trial"] = {"tier": "silverplus", "start": "2026-11-20", "end": "2026-12-10"}
    client_file.write_text(yaml.safe_dump(data))
    cli = Cli(project, tmp_path / "home")
    receivers.append(receiver := Receiver())
    cli.env["MSPCTL_WEBHOOK_URL"] = receiver.url + "/fleet"
    result = cli("run-due", "--now", "2026-12-05T21:30Z", "--duties", "patching")
    assert result.exit_code == 0, result.output
    [(_method, _path, _headers, body)] = receiver.requests
    assert json.loads(body)["trials"] == [
        {
            "client": "beta",
            "tier": "silverplus",
            "end": "2026-12-10",
            "days_left": 5,
            "after": "silver",
            "lost": ["contract.all_inclusive_assistance"],
            "changed": 0,
        }
    ]
