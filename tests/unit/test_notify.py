"""Rendering of a summary and checking of the notification settings (no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mspctl.errors import BadInput, ExitCode
from mspctl.notify import (
    ClientLine,
    Settings,
    Summary,
    build_email,
    render_alertmanager,
    render_json,
    render_text,
    scrub,
)

STARTED = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
ENDED = STARTED + timedelta(minutes=41, seconds=5)


def summary(**overrides: object) -> Summary:
    values: dict[str, object] = {
        "title": "Nightly patching",
        "status": "failed",
        "started": STARTED,
        "ended": ENDED,
        "clients": (
            ClientLine("acme", patched=12, missed=1, failing_controls=2, run_ids=("r-1", "r-2")),
            ClientLine("globex", patched=5, drift=3, run_ids=("r-3",)),
            ClientLine("initech", patched=7),
        ),
    }
    values.update(overrides)
    return Summary(**values)  # type: ignore[arg-type]


def test_text_has_every_figure_aligned_with_totals():
    text = render_text(summary())
    lines = text.splitlines()
    assert lines[0] == "Nightly patching"
    assert lines[1] == "status: FAILED"
    assert lines[2] == "started 2026-11-30 02:00:00 UTC, ended 2026-11-30 02:41:05 UTC (41m05s)"
    header, acme, globex, initech, total = lines[4:]
    assert header.split()[:7] == ["client", "patched", "missed", "caught", "up", "failed", "drift"]
    assert acme.split() == ["acme", "12", "1", "0", "0", "0", "2", "r-1,", "r-2"]
    assert globex.split() == ["globex", "5", "0", "0", "0", "3", "0", "r-3"]
    assert initech.split() == ["initech", "7", "0", "0", "0", "0", "0", "-"]
    assert total.split() == ["total", "24", "1", "0", "0", "3", "2"]
    # right-aligned numbers: each column ends where its header ends
    end = header.index("patched") + len("patched")
    assert acme[:end].endswith("12") and globex[:end].endswith(" 5")


def test_text_without_clients_says_so():
    assert "no clients in this run" in render_text(summary(clients=(), status="ok"))


def test_json_is_serialisable_utc_with_totals():
    data = render_json(summary(started=STARTED.astimezone(timezone(timedelta(hours=1)))))
    assert json.loads(json.dumps(data)) == data
    assert data["kind"] == "mspctl.summary" and data["version"] == 1
    assert data["status"] == "failed"
    assert data["started"] == "2026-11-30T02:00:00Z"
    assert data["ended"] == "2026-11-30T02:41:05Z"
    assert data["clients"][0] == {
        "client": "acme",
        "patched": 12,
        "missed": 1,
        "caught_up": 0,
        "failed": 0,
        "drift": 0,
        "failing_controls": 2,
        "run_ids": ["r-1", "r-2"],
    }
    assert data["totals"] == {
        "patched": 24,
        "missed": 1,
        "caught_up": 0,
        "failed": 0,
        "drift": 3,
        "failing_controls": 2,
    }


def test_alertmanager_one_alert_per_client_healthy_ones_resolved():
    alerts = render_alertmanager(summary())
    assert [a["labels"]["client"] for a in alerts] == ["acme", "globex", "initech"]
    # a miss the tier tolerates is a warning; failed hosts are critical
    assert [a["labels"]["severity"] for a in alerts] == ["warning", "warning", "none"]
    assert ClientLine("x", patched=3, missed=1, failed=1).severity == "critical"
    for alert in alerts:
        assert alert["labels"]["alertname"] == "MspctlRun"
        assert alert["startsAt"] == "2026-11-30T02:00:00Z"
        # Alertmanager wants strings only in labels and annotations
        assert all(isinstance(v, str) for v in alert["labels"].values())
        assert all(isinstance(v, str) for v in alert["annotations"].values())
    assert "endsAt" not in alerts[0] and "endsAt" not in alerts[1]
    assert alerts[2]["endsAt"] == "2026-11-30T02:41:05Z"
    assert "missed 1" in alerts[0]["annotations"]["description"]
    assert alerts[0]["annotations"]["run_ids"] == "r-1, r-2"


def test_alertmanager_without_clients_one_alert_for_the_run():
    (alert,) = render_alertmanager(summary(clients=(), status="drift"))
    assert alert["labels"]["severity"] == "warning"
    assert "client" not in alert["labels"]


def test_email_subject_is_one_line_and_names_the_status():
    smtp = Settings.from_env(
        {"MSPCTL_SMTP_HOST": "mx", "MSPCTL_SMTP_FROM": "a@x.org", "MSPCTL_SMTP_TO": "b@y.org"}
    ).smtp
    assert smtp is not None
    message = build_email(summary(title="two\nlines\r\nInjected: yes"), smtp)
    assert message["Subject"] == "[mspctl] FAILED: two lines Injected: yes"
    assert "Injected" not in message
    assert "acme" in message.get_content()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "meh"),
        ("started", datetime(2026, 11, 30)),  # naive
        ("ended", STARTED - timedelta(seconds=1)),
    ],
)
def test_summary_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field if field != "ended" else "before"):
        summary(**{field: value})


def test_client_line_rejects_negative_counts():
    with pytest.raises(ValueError, match="patched"):
        ClientLine("acme", patched=-1)


SMTP = {"MSPCTL_SMTP_HOST": "smtp.example.org", "MSPCTL_SMTP_FROM": "msp@example.org"}
SMTP_TO = {**SMTP, "MSPCTL_SMTP_TO": "ops@example.org, Night Desk <night@example.org>"}


def test_settings_defaults_and_lists():
    settings = Settings.from_env(SMTP_TO)
    assert settings.webhook is None and settings.timeout == 10
    smtp = settings.smtp
    assert smtp is not None
    assert (smtp.port, smtp.tls, smtp.user) == (587, "starttls", None)
    assert smtp.recipients == ("ops@example.org", "night@example.org")
    assert Settings.from_env({**SMTP_TO, "MSPCTL_SMTP_TLS": "tls"}).smtp.port == 465  # type: ignore[union-attr]
    assert not Settings.from_env({}).configured


def test_secrets_stay_out_of_repr():
    settings = Settings.from_env(
        {
            **SMTP_TO,
            "MSPCTL_SMTP_USER": "msp",
            "MSPCTL_SMTP_PASSWORD": "hunter2-smtp",
            "MSPCTL_WEBHOOK_URL": "https://hooks.example.org/T0/B0/s3cr3tpath",
            "MSPCTL_WEBHOOK_TOKEN": "tok-abc",
        }
    )
    text = repr(settings)
    for secret in ("hunter2-smtp", "tok-abc", "s3cr3tpath"):
        assert secret not in text
    assert settings.webhook is not None
    assert settings.webhook.server == "https://hooks.example.org:443"
    assert scrub("x hunter2-smtp y tok-abc", settings.secrets) == "x *** y ***"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({**SMTP_TO, "MSPCTL_SMTP_PORT": "70000"}, "MSPCTL_SMTP_PORT"),
        ({**SMTP_TO, "MSPCTL_SMTP_PORT": "smtp"}, "MSPCTL_SMTP_PORT"),
        ({**SMTP_TO, "MSPCTL_SMTP_TLS": "ssl"}, "MSPCTL_SMTP_TLS"),
        (SMTP, "MSPCTL_SMTP_TO"),
        ({**SMTP_TO, "MSPCTL_SMTP_TO": "nobody"}, "MSPCTL_SMTP_TO"),
        ({"MSPCTL_SMTP_TO": "a@b.c"}, "MSPCTL_SMTP_HOST"),
        ({**SMTP_TO, "MSPCTL_SMTP_USER": "msp"}, "MSPCTL_SMTP_PASSWORD"),
        ({**SMTP_TO, "MSPCTL_SMTP_PASSWORD": "pw-xyz"}, "MSPCTL_SMTP_USER"),
        (
            {**SMTP_TO, "MSPCTL_SMTP_TLS": "none", "MSPCTL_SMTP_USER": "u"}
            | {"MSPCTL_SMTP_PASSWORD": "pw-xyz"},
            "MSPCTL_SMTP_TLS",
        ),
        ({**SMTP_TO, "MSPCTL_SMTP_FROM": "a@b.c\nBcc: x@y.z"}, "MSPCTL_SMTP_FROM"),
        ({"MSPCTL_WEBHOOK_URL": "ftp://hooks.example.org/x"}, "MSPCTL_WEBHOOK_URL"),
        ({"MSPCTL_WEBHOOK_URL": "hooks.example.org/x"}, "MSPCTL_WEBHOOK_URL"),
        ({"MSPCTL_WEBHOOK_URL": "https://"}, "MSPCTL_WEBHOOK_URL"),
        ({"MSPCTL_WEBHOOK_URL": "https://h:99999/"}, "MSPCTL_WEBHOOK_URL"),
        ({"MSPCTL_WEBHOOK_URL": "https://u:pw-xyz@h/"}, "MSPCTL_WEBHOOK_URL"),
        (
            {"MSPCTL_WEBHOOK_URL": "http://hooks.example.org/", "MSPCTL_WEBHOOK_TOKEN": "pw-xyz"},
            "MSPCTL_WEBHOOK_URL",
        ),
        (
            {"MSPCTL_WEBHOOK_URL": "https://h/", "MSPCTL_WEBHOOK_FORMAT": "slack"},
            "MSPCTL_WEBHOOK_FORMAT",
        ),
        (
            {"MSPCTL_WEBHOOK_URL": "https://h/", "MSPCTL_WEBHOOK_TOKEN": "pw-xyz\r\nX: y"},
            "MSPCTL_WEBHOOK_TOKEN",
        ),
        ({"MSPCTL_WEBHOOK_TOKEN": "pw-xyz"}, "MSPCTL_WEBHOOK_URL"),
        ({"MSPCTL_NOTIFY_TIMEOUT": "0"}, "MSPCTL_NOTIFY_TIMEOUT"),
        ({"MSPCTL_NOTIFY_TIMEOUT": "soon"}, "MSPCTL_NOTIFY_TIMEOUT"),
    ],
)
def test_bad_settings_are_bad_input_naming_the_variable(env, variable):
    with pytest.raises(BadInput) as caught:
        Settings.from_env(env)
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert caught.value.message.startswith(f"{variable}: ")
    assert "\n" not in caught.value.message
    assert "pw-xyz" not in caught.value.message


def test_auth_without_tls_is_allowed_to_a_loopback_relay():
    env = {**SMTP_TO, "MSPCTL_SMTP_HOST": "127.0.0.1", "MSPCTL_SMTP_TLS": "none"}
    smtp = Settings.from_env(env | {"MSPCTL_SMTP_USER": "u", "MSPCTL_SMTP_PASSWORD": "p"}).smtp
    assert smtp is not None and smtp.port == 25
