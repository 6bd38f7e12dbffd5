"""``mspctl clients offboard`` and ``restore`` on the demo client, a real run on this machine
over the local connection: the demo's no_<policy> groups leave it only the read-only assets
policy, so its retirement touches nothing here. The lab test (tests/integration/
test_retire_lab.py) proves the removals on real hosts."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path


def _ok(result, code: int = 0):
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_offboard_writes_the_package_archives_and_refuses_until_restored(cli):
    applied = _ok(cli("apply", "demo", "--policy", "assets", "--json"))
    preview = _ok(cli("clients", "offboard", "demo", "--check", "--json"))
    assert preview["mode"] == "check" and preview["removals"] == []
    assert preview["handover"] is None and preview["archive"] is None
    assert (cli.project / "inventories" / "demo" / "client.yml").is_file()  # nothing moved

    target = cli.project.parent / "handover-demo"
    done = _ok(cli("clients", "offboard", "demo", "--output", str(target), "--json"))
    assert done["mode"] == "apply" and Path(done["handover"]) == target
    run = cli.json("runs", "show", done["run_id"])
    assert run["mode"] == "apply" and run["policies"] == [] and run["status"] == "successful"

    # the package: what the manifest lists is there, unchanged
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["offboarding_run"] == done["run_id"]
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((target / rel).read_bytes()).hexdigest() == digest, rel
    assert set(done["handover_files"]) == {*manifest["files"], "manifest.json"}
    assets = json.loads((target / "assets.json").read_text())
    assert set(assets) == {"demo-server"}
    with (target / "assets.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["host"] for r in rows] == ["demo-server"]
    report = json.loads((target / "compliance-report.json").read_text())
    assert report["run"]["id"] == applied["run_id"]  # the last apply, not the offboarding
    assert list(target.glob("monthly-report-*.json")) and list(target.glob("monthly-report-*.html"))
    readme = (target / "README.md").read_text()
    assert "network configuration backups: the client has none" in readme
    assert "backup repositories: no backup status was ever recorded" in readme
    assert not (target / "backup-credentials.vault.yml").exists()

    # archived, never deleted; refused with a clear message until restored
    archive = Path(done["archive"])
    assert archive.parent == cli.project / "inventories" / ".archive"
    assert archive.name.startswith("demo-") and (archive / "hosts.yml").is_file()
    assert not (cli.project / "inventories" / "demo").exists()
    for command in (("apply", "demo"), ("drift", "demo"), ("clients", "offboard", "demo")):
        refused = cli(*command)
        assert refused.exit_code == 3, refused.output
        assert "client demo is offboarded" in refused.output
        assert "mspctl clients restore demo" in refused.output
    listed = cli.json("runs", "list", "demo")
    assert {applied["run_id"], done["run_id"]} <= {r["id"] for r in listed}
    assert cli("diff", "demo", "--json").exit_code == 0
    assert "demo" not in {c["client"] for c in cli.json("clients", "list")}

    restored = cli("clients", "restore", "demo")
    assert restored.exit_code == 0, restored.output
    assert not list((cli.project / "inventories" / ".archive").iterdir())
    assert not (cli.project / "inventories" / "demo" / "offboarded.json").exists()
    _ok(cli("apply", "demo", "--policy", "assets", "--json"))
    again = cli("clients", "restore", "demo")
    assert again.exit_code == 3, again.output
    assert "no archived inventory" in again.output


def test_offboard_output_must_be_a_new_folder(cli):
    taken = cli.project.parent / "taken"
    taken.mkdir()
    result = cli("clients", "offboard", "demo", "--output", str(taken))
    assert result.exit_code == 3, result.output
    assert "exists already" in result.output and "--output" in result.output
    assert (cli.project / "inventories" / "demo" / "client.yml").is_file()
    assert cli.json("runs", "list", "demo") == []  # bad input runs nothing
