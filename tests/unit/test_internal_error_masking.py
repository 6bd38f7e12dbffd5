"""An unexpected error (a bug) prints one line, and never a secret the process has read."""

from __future__ import annotations

import pytest

from mspctl.cli import _run
from mspctl.errors import ExitCode
from mspctl.results import masker, remember_secrets


def _fail(message: str) -> None:
    raise RuntimeError(message)


def test_a_bug_quoting_a_secret_read_by_the_run_prints_it_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MSPCTL_DEBUG", raising=False)
    remember_secrets({"restic-pass-1234"})
    masker(frozenset({"vault-token-5678"}))  # a run's masker remembers its secrets too

    code = _run(lambda: _fail("cannot dump restic-pass-1234 nor vault-token-5678\nline two"))

    err = capsys.readouterr().err
    assert code == ExitCode.FAILED
    assert "restic-pass-1234" not in err
    assert "vault-token-5678" not in err
    assert err.count("********") == 2
    assert err.startswith("internal error: RuntimeError: cannot dump")
    assert len(err.strip().splitlines()) == 1  # one line, no traceback


def test_a_bug_without_secrets_keeps_its_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MSPCTL_DEBUG", raising=False)
    code = _run(lambda: _fail("list index out of range"))
    assert code == ExitCode.FAILED
    assert "list index out of range" in capsys.readouterr().err
