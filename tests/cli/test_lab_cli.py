"""`mspctl lab` as a user meets it without root: one clear line, exit 1."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "args",
    [
        ["lab", "up"],
        ["lab", "up", "2"],
        ["lab", "down"],
        ["lab", "down", "--all"],
        ["lab", "image", "build"],
    ],
)
def test_lab_needs_root(cli, monkeypatch, args):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    result = cli(*args)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "needs root" in lines[0]


def test_status_of_an_absent_lab_needs_no_root(cli, monkeypatch, tmp_path):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setenv("MSPCTL_LAB_RUN_DIR", str(tmp_path / "run"))
    result = cli("lab", "status", "--name", "nobody", "--json")
    assert result.exit_code == 0, result.output
    assert '"status": "absent"' in result.stdout


def test_bad_lab_name_is_bad_input(cli):
    result = cli("lab", "status", "--name", "Bad_Name")
    assert result.exit_code == 3, result.output
    assert "invalid lab name" in result.stderr


def test_host_count_is_bounded(cli):
    result = cli("lab", "up", "0")
    assert result.exit_code == 3, result.output
