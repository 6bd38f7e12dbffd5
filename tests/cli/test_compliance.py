"""Findings, waivers, reports and diffs from real runs on this machine (the demo client)."""

from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser

import jsonschema
import pytest
import yaml

from mspctl.reports import SCHEMA

TODAY = dt.date.today()


def _set_warranty(cli, end: dt.date, contract: str = "DEMO-NBD-0001") -> None:
    path = cli.project / "inventories/demo/host_vars/demo-server.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "assets_warranty": {
                    "purchase_date": "2020-01-01",
                    "warranty_end": end.isoformat(),
                    "vendor_contract": contract,
                }
            }
        )
    )


def _waive(cli, expires: dt.date, **extra) -> None:
    waiver = {
        "control": "assets.warranty_valid",
        "hosts": ["servers"],
        "justification": "Replacement server ordered, arrives next month",
        "approved_by": "Account manager",
        "expires": expires.isoformat(),
        **extra,
    }
    (cli.project / "inventories/demo/waivers.yml").write_text(yaml.safe_dump({"waivers": [waiver]}))


# the demo client is this very machine: only the read-only assets policy runs on it here
ONLY_ASSETS = ("--policy", "assets")


def _apply(cli, *args):
    result = cli("apply", "demo", "--json", *ONLY_ASSETS, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["run_id"]


def _tags(html: str) -> list[str]:
    seen: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            seen.append(tag)

    Collect().feed(html)
    return seen


def _controls(report):
    return {c["control_id"]: c for c in report["controls"]}


def test_report_formats_validate(cli):
    _set_warranty(cli, TODAY - dt.timedelta(days=10))
    _apply(cli)
    report = json.loads(cli("report", "demo", "--format", "json").stdout)
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    assert report["format_version"] == 1
    assert report["contract"]["first_response_hours"] == {"default": 2.0, "servers": 1.0}
    failing = _controls(report)["assets.warranty_valid"]
    assert failing["status"] == "fail"
    assert failing["evidence"]["vendor_contract"] == "DEMO-NBD-0001"
    assert report["summary"]["fail"] == 1
    assert report["policies"]["assets"]["score"] < 100

    junit = cli("report", "demo", "--format", "junit")
    assert junit.exit_code == 0, junit.output
    from junitparser import JUnitXml

    path = cli.home / "report.xml"
    path.write_text(junit.stdout)
    xml = JUnitXml.fromfile(str(path))
    cases = [case for suite in xml for case in suite]
    assert len(cases) == len(report["controls"])
    assert sum(1 for c in cases if c.result and c.result[0]._tag == "failure") == 1

    sarif = cli("report", "demo", "--format", "sarif")
    from sarif_pydantic import Sarif

    doc = Sarif.model_validate_json(sarif.stdout)
    assert doc.version == "2.1.0"
    assert [r.rule_id for r in doc.runs[0].results] == ["assets.warranty_valid"]

    html = cli("report", "demo", "--format", "html").stdout
    tags = _tags(html)
    assert tags[0] == "html" and "table" in tags
    assert "script" not in tags and "link" not in tags and "img" not in tags  # self-contained
    assert "assets.warranty_valid" in html

    md = cli("report", "demo", "--format", "md").stdout
    assert "assets.warranty_valid" in md and "## Failing controls" in md


def test_waiver_applies_then_expires(cli):
    _set_warranty(cli, TODAY - dt.timedelta(days=10))
    _waive(cli, TODAY + dt.timedelta(days=30))
    _apply(cli)
    report = json.loads(cli("report", "demo", "--format", "json").stdout)
    control = _controls(report)["assets.warranty_valid"]
    assert control["status"] == "waived"
    assert control["raw_status"] == "fail"
    assert control["waiver"]["approved_by"] == "Account manager"
    assert report["summary"]["waived"] == 1 and report["summary"]["pass"] == 2

    _waive(cli, TODAY - dt.timedelta(days=1))
    report = json.loads(cli("report", "demo", "--format", "json").stdout)
    control = _controls(report)["assets.warranty_valid"]
    assert control["status"] == "fail"
    assert control["waiver_expired"] is True
    assert report["waivers_expired"][0]["control"] == "assets.warranty_valid"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (
            "waivers: [{control: assets.warranty_valid, hosts: [all], approved_by: me, "
            "expires: 2030-01-01}]",
            "waivers[0].justification",
        ),
        (
            "waivers: [{control: assets.warranty_valid, hosts: [all], justification: long enough "
            "reason, approved_by: me}]",
            "waivers[0].expires",
        ),
        (
            "waivers: [{control: x.y, hosts: [all], justification: long enough reason, "
            "approved_by: me, expires: 2030-01-01, colour: red}]",
            "waivers[0].colour",
        ),
        (
            "waivers: [{control: x.y, hosts: [all], justification: long enough reason, "
            "approved_by: me, expires: someday}]",
            "waivers[0].expires",
        ),
        ("waivers: {", "invalid YAML"),
    ],
)
def test_invalid_waiver_file_is_bad_input(cli, content, fragment):
    (cli.project / "inventories/demo/waivers.yml").write_text(content + "\n")
    for args in (("report", "demo"), ("drift", "demo", *ONLY_ASSETS)):
        result = cli(*args)
        assert result.exit_code == 3, result.output
        assert "inventories/demo/waivers.yml" in result.stderr
        assert fragment in result.stderr


def test_diff_shows_newly_failing_fixed_and_asset_changes(cli):
    _set_warranty(cli, TODAY + dt.timedelta(days=400))
    first = _apply(cli)
    _set_warranty(cli, TODAY - dt.timedelta(days=1), contract="DEMO-NBD-0002")
    second = _apply(cli)
    data = cli.json("diff", "demo")
    assert (data["from"]["id"], data["to"]["id"]) == (first, second)
    assert [c["control_id"] for c in data["newly_failing"]] == ["assets.warranty_valid"]
    fields = {c["field"]: c for c in data["asset_changes"]}
    assert fields["warranty.vendor_contract"]["to"] == "DEMO-NBD-0002"

    _set_warranty(cli, TODAY + dt.timedelta(days=400))
    third = _apply(cli)
    data = cli.json("diff", "demo")
    assert [c["control_id"] for c in data["fixed"]] == ["assets.warranty_valid"]
    # explicit range: first -> third, nothing changed in the control
    data = cli.json("diff", "demo", "--from", first, "--to", third)
    assert data["newly_failing"] == [] and data["fixed"] == []
    fleet = cli.json("diff", "--all")
    assert [(r["client"], r["fixed"], r["failing_now"]) for r in fleet] == [("demo", 1, 0)]


def test_diff_needs_two_runs(cli):
    result = cli("diff", "demo")
    assert result.exit_code == 3, result.output
    assert "needs a completed run" in result.stderr
    _apply(cli)
    result = cli("diff", "demo")
    assert result.exit_code == 3, result.output
    assert "has no completed run before" in result.stderr
    result = cli("diff")
    assert result.exit_code == 3, result.output
    assert "give a CLIENT or --all" in result.stderr


def test_drift_exits_zero_when_converged_and_two_on_failing_control(cli):
    _set_warranty(cli, TODAY + dt.timedelta(days=400))
    _apply(cli)
    result = cli("drift", "demo", "--json", *ONLY_ASSETS)
    assert result.exit_code == 0, result.output
    _set_warranty(cli, TODAY - dt.timedelta(days=3))
    result = cli("drift", "demo", "--json", *ONLY_ASSETS)
    assert result.exit_code == 2, result.output
    data = json.loads(result.stdout)
    assert [f["control_id"] for f in data["failing_controls"]] == ["assets.warranty_valid"]
    _waive(cli, TODAY + dt.timedelta(days=5))
    result = cli("drift", "demo", "--json", *ONLY_ASSETS)
    assert result.exit_code == 0, result.output


def test_diff_after_drift_and_apply_shows_the_drift_healed(cli):
    _set_warranty(cli, TODAY + dt.timedelta(days=400))
    _apply(cli)
    # the demo's only managed state is read-only; a check run of a modified role stands in
    tasks = cli.project / "roles/assets/tasks/main.yml"
    marker = cli.home / "marker"
    tasks.write_text(
        tasks.read_text()
        + (
            "\n- name: Keep a marker file\n"
            "  ansible.builtin.copy:\n"
            f"    dest: {marker}\n"
            "    content: converged\n"
            "    mode: '0644'\n"
        )
    )
    result = cli("drift", "demo", "--json", *ONLY_ASSETS)
    assert result.exit_code == 2, result.output
    pending = json.loads(result.stdout)["pending_changes"]
    assert [c["task"] for c in pending] == ["Keep a marker file"]
    assert "converged" in pending[0]["diff"]
    assert not marker.exists()  # check mode wrote nothing
    _apply(cli)
    assert marker.read_text() == "converged"
    fixed = cli.json("diff", "demo")["fixed"]
    assert [(f["host"], f["control_id"]) for f in fixed] == [
        ("demo-server", "drift: Keep a marker file")
    ]
    # a change after the last apply, with the desired state unchanged, is drift
    marker.write_text("edited by hand")
    data = json.loads(cli("drift", "demo", "--json", *ONLY_ASSETS).stdout)
    assert [c["task"] for c in data["drift"]] == ["Keep a marker file"]
    assert data["pending_changes"] == []
