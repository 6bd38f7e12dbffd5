"""``mspctl schedule``: exit codes, stdout, -o directory/file, --json."""

from __future__ import annotations

import yaml


def test_json_lists_the_demo_triggers(cli):
    data = cli.json("schedule")
    assert [t["name"] for t in data] == ["europe-paris-tue-thu-1900", "europe-paris-sat-2200"]
    assert all(t["clients"] == ["demo"] for t in data)


def test_systemd_to_a_directory(cli, tmp_path):
    out = tmp_path / "units"
    result = cli("schedule", "--emit", "systemd", "--client", "demo", "-o", str(out))
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "mspctl-patch-europe-paris-sat-2200.service",
        "mspctl-patch-europe-paris-sat-2200.timer",
        "mspctl-patch-europe-paris-tue-thu-1900.service",
        "mspctl-patch-europe-paris-tue-thu-1900.timer",
    ]
    timer = (out / "mspctl-patch-europe-paris-sat-2200.timer").read_text()
    assert "\nOnCalendar=Sat *-*-* 22:00:00 Europe/Paris\n" in timer


def test_cron_to_stdout_and_to_a_file(cli, tmp_path):
    result = cli("schedule", "--emit", "cron")
    assert result.exit_code == 0, result.output
    assert "CRON_TZ=Europe/Paris\n" in result.stdout
    assert "\n0 22 * * 6 mspctl run-due --client demo\n" in result.stdout
    target = tmp_path / "sub" / "patch.crontab"
    result = cli("schedule", "--emit", "cron", "-o", str(target), "--mspctl", "/opt/mspctl")
    assert result.exit_code == 0, result.output
    assert "\n0 19 * * 2,4 /opt/mspctl run-due --client demo\n" in target.read_text()


def test_ci_emitters_write_valid_yaml(cli):
    for emit, key in (("gitlab-ci", None), ("github-actions", "jobs")):
        result = cli("schedule", "--emit", emit)
        assert result.exit_code == 0, result.output
        data = yaml.safe_load(result.stdout)
        jobs = data[key] if key else data
        assert set(jobs) == {
            "mspctl-patch-europe-paris-sat-2200",
            "mspctl-patch-europe-paris-tue-thu-1900",
        }, emit


def test_unknown_client_exits_3(cli):
    result = cli("schedule", "--emit", "cron", "--client", "nope")
    assert result.exit_code == 3, result.output
    assert "unknown client" in result.output


def test_emit_is_required_without_json(cli):
    result = cli("schedule")
    assert result.exit_code == 3, result.output
    result = cli("schedule", "--emit", "launchd")
    assert result.exit_code == 3, result.output


def test_listed_in_help(cli):
    result = cli("--help")
    assert result.exit_code == 0, result.output
    assert "schedule" in result.output
