"""``mspctl notify test`` against real servers on loopback: an SMTP server (aiosmtpd, with and
without AUTH, plain and STARTTLS) and HTTP receivers (answering, failing, silent).

Nothing here mocks smtplib or urllib; every server a test starts is stopped at its teardown.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import aiosmtpd.controller as aiosmtpd_controller
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner, Result

from tests.cli.conftest import Receiver

PASSWORD = "s3cret-Pa55"
TOKEN = "tok-9f8e7d6c5b4a"
NOTIFY_VARIABLES = (
    "MSPCTL_SMTP_HOST",
    "MSPCTL_SMTP_PORT",
    "MSPCTL_SMTP_FROM",
    "MSPCTL_SMTP_TO",
    "MSPCTL_SMTP_TLS",
    "MSPCTL_SMTP_USER",
    "MSPCTL_SMTP_PASSWORD",
    "MSPCTL_WEBHOOK_URL",
    "MSPCTL_WEBHOOK_FORMAT",
    "MSPCTL_WEBHOOK_TOKEN",
    "MSPCTL_NOTIFY_TIMEOUT",
    # the receivers are on loopback: no proxy may stand in between
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
)


def notify(tmp_path: Path, *args: str, **env: str) -> Result:
    from mspctl.cli import mspctl

    environment: dict[str, str | None] = dict.fromkeys(NOTIFY_VARIABLES)
    environment.update({"MSPCTL_HOME": str(tmp_path / "home"), "COLUMNS": "200"})
    environment.update(env)
    return CliRunner().invoke(
        mspctl, ["notify", "test", *args], env=environment, catch_exceptions=False
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_one_line_failure(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    line = result.output.strip()
    assert "\n" not in line, line
    assert line.startswith("error: "), line
    for fragment in fragments:
        assert fragment in line, line
    for secret in (PASSWORD, TOKEN):
        assert secret not in result.output
    return line


# -- SMTP ------------------------------------------------------------------------------------
class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=default_policy)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"msp",
            PASSWORD.encode(),
        ):
            self.logins.append(mechanism)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def start_smtp(inbox: Inbox, **kwargs: Any) -> Any:
    controller = aiosmtpd_controller.Controller(
        inbox, hostname="127.0.0.1", port=free_port(), **kwargs
    )
    controller.start()
    return controller


@pytest.fixture
def smtp_servers() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for controller in started:
        controller.stop()


def smtp_env(port: int, **extra: str) -> dict[str, str]:
    return {
        "MSPCTL_SMTP_HOST": "127.0.0.1",
        "MSPCTL_SMTP_PORT": str(port),
        "MSPCTL_SMTP_FROM": "mspctl@msp.example",
        "MSPCTL_SMTP_TO": "ops@msp.example, night@msp.example",
        "MSPCTL_SMTP_TLS": "none",
        **extra,
    }


def assert_sample_mail(inbox: Inbox) -> Message:
    (sender, recipients, message), *_ = inbox.messages
    assert len(inbox.messages) == 1
    assert sender == "mspctl@msp.example"
    assert recipients == ["ops@msp.example", "night@msp.example"]
    assert message["Subject"] == "[mspctl] FAILED: mspctl notification test (sample figures)"
    body = message.get_content()
    rows = {line.split()[0]: line.split()[1:7] for line in body.splitlines() if line}
    # patched, missed, caught up, failed, drift, failing controls of the sample summary
    assert rows["example-acme"] == ["12", "1", "0", "0", "0", "2"]
    assert rows["example-globex"] == ["5", "0", "0", "1", "2", "0"]
    assert rows["total"] == ["17", "1", "0", "1", "2", "2"]
    return message


def test_email_without_auth_arrives_with_the_figures(tmp_path, smtp_servers):
    inbox = Inbox()
    smtp_servers.append(server := start_smtp(inbox))
    result = notify(tmp_path, **smtp_env(server.port))
    assert result.exit_code == 0, result.output
    assert f"sent email to smtp://127.0.0.1:{server.port} (none)" in result.output
    assert "to ops@msp.example, night@msp.example" in result.output
    assert_sample_mail(inbox)


# aiosmtpd warns about AUTH without TLS: on loopback, on purpose (mspctl allows it there only)
NO_TLS_WARNING = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@NO_TLS_WARNING
def test_email_with_auth_logs_in_and_json_says_where(tmp_path, smtp_servers):
    inbox = Inbox()
    server = start_smtp(
        inbox, authenticator=inbox.authenticate, auth_required=True, auth_require_tls=False
    )
    smtp_servers.append(server)
    env = smtp_env(server.port, MSPCTL_SMTP_USER="msp", MSPCTL_SMTP_PASSWORD=PASSWORD)
    result = notify(tmp_path, "--json", **env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["sent"] == [
        {
            "channel": "email",
            "target": f"smtp://127.0.0.1:{server.port} (none)",
            "detail": "to ops@msp.example, night@msp.example: "
            "[mspctl] FAILED: mspctl notification test (sample figures)",
        }
    ]
    assert data["summary"]["totals"]["patched"] == 17
    assert inbox.logins and PASSWORD not in result.output
    assert_sample_mail(inbox)


@NO_TLS_WARNING
def test_email_wrong_password_is_one_line_password_masked(tmp_path, smtp_servers):
    inbox = Inbox()
    server = start_smtp(
        inbox, authenticator=inbox.authenticate, auth_required=True, auth_require_tls=False
    )
    smtp_servers.append(server)
    env = smtp_env(server.port, MSPCTL_SMTP_USER="msp", MSPCTL_SMTP_PASSWORD=PASSWORD + "x")
    assert_one_line_failure(
        notify(tmp_path, **env), f"smtp://127.0.0.1:{server.port}", "login refused (535"
    )
    assert PASSWORD + "x" not in notify(tmp_path, **env).output
    assert not inbox.messages


def test_email_to_a_closed_port_is_one_line(tmp_path):
    port = free_port()
    assert_one_line_failure(
        notify(tmp_path, **smtp_env(port)),
        f"email via smtp://127.0.0.1:{port} (none) failed: connection refused",
    )


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (also its own CA), made with ``cryptography``."""
    from cryptography import x509  # ansible-core's own dependency
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mspctl test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def server_context(certificate: tuple[Path, Path]) -> Any:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def test_email_starttls_with_auth(tmp_path, smtp_servers, certificate, monkeypatch):
    inbox = Inbox()
    server = start_smtp(
        inbox,
        tls_context=server_context(certificate),
        require_starttls=True,
        authenticator=inbox.authenticate,
        auth_required=True,
    )
    smtp_servers.append(server)
    env = smtp_env(server.port, MSPCTL_SMTP_TLS="starttls", MSPCTL_SMTP_USER="msp")
    env["MSPCTL_SMTP_PASSWORD"] = PASSWORD
    # untrusted certificate: refused before any password is sent
    assert_one_line_failure(notify(tmp_path, **env), "(starttls) failed: SSLCertVerificationError")
    assert not inbox.logins
    # the test's certificate trusted (OpenSSL reads SSL_CERT_FILE): delivered over TLS
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    result = notify(tmp_path, **env)
    assert result.exit_code == 0, result.output
    assert f"smtp://127.0.0.1:{server.port} (starttls)" in result.output
    assert inbox.logins
    assert_sample_mail(inbox)


def test_email_implicit_tls(tmp_path, smtp_servers, certificate, monkeypatch):
    inbox = Inbox()
    server = start_smtp(inbox, ssl_context=server_context(certificate))
    smtp_servers.append(server)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    result = notify(tmp_path, **smtp_env(server.port, MSPCTL_SMTP_TLS="tls"))
    assert result.exit_code == 0, result.output
    assert_sample_mail(inbox)


# -- webhooks --------------------------------------------------------------------------------
def test_webhook_json_body_and_bearer_header(tmp_path, receivers):
    receivers.append(receiver := Receiver())
    result = notify(
        tmp_path, MSPCTL_WEBHOOK_URL=receiver.url + "/hooks/mspctl", MSPCTL_WEBHOOK_TOKEN=TOKEN
    )
    assert result.exit_code == 0, result.output
    assert f"sent webhook to {receiver.url}: json, HTTP 200" in result.output
    ((method, path, headers, body),) = receiver.requests
    assert (method, path) == ("POST", "/hooks/mspctl")
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Content-Type"] == "application/json"
    data = json.loads(body)
    assert data["kind"] == "mspctl.summary" and data["status"] == "failed"
    assert [c["client"] for c in data["clients"]] == ["example-acme", "example-globex"]
    assert data["totals"] == {
        "patched": 17,
        "missed": 1,
        "caught_up": 0,
        "failed": 1,
        "drift": 2,
        "failing_controls": 2,
    }
    assert TOKEN not in result.output


def test_webhook_alertmanager_payload(tmp_path, receivers):
    receivers.append(receiver := Receiver())
    result = notify(
        tmp_path,
        "--json",
        MSPCTL_WEBHOOK_URL=receiver.url + "/api/v2/alerts",
        MSPCTL_WEBHOOK_FORMAT="alertmanager",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sent"][0]["detail"] == "alertmanager, 2 alerts, HTTP 200"
    ((_, path, headers, body),) = receiver.requests
    assert path == "/api/v2/alerts" and "Authorization" not in headers
    alerts = json.loads(body)
    assert isinstance(alerts, list) and len(alerts) == 2
    for alert in alerts:
        assert set(alert) >= {"labels", "annotations", "startsAt"}
        assert alert["labels"]["alertname"] == "MspctlRun"
        dt.datetime.fromisoformat(alert["startsAt"])  # RFC 3339
    assert [a["labels"]["client"] for a in alerts] == ["example-acme", "example-globex"]
    assert [a["labels"]["severity"] for a in alerts] == [
        "warning",
        "critical",
    ]  # a tolerated miss warns


def test_webhook_answering_500_is_one_line_token_masked(tmp_path, receivers):
    receivers.append(receiver := Receiver(status=500))
    result = notify(tmp_path, MSPCTL_WEBHOOK_URL=receiver.url + "/hook", MSPCTL_WEBHOOK_TOKEN=TOKEN)
    assert_one_line_failure(
        result, f"webhook {receiver.url} answered HTTP 500 Internal Server Error"
    )
    assert len(receiver.requests) == 1


def test_webhook_redirect_is_refused_not_followed(tmp_path, receivers):
    receivers.append(elsewhere := Receiver())
    receivers.append(receiver := Receiver(status=302, headers={"Location": elsewhere.url}))
    result = notify(tmp_path, MSPCTL_WEBHOOK_URL=receiver.url, MSPCTL_WEBHOOK_TOKEN=TOKEN)
    assert_one_line_failure(result, "answered HTTP 302")
    assert not elsewhere.requests  # the token never went to another server


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_webhook_that_never_answers_times_out(tmp_path, silent_server):
    result = notify(
        tmp_path,
        MSPCTL_WEBHOOK_URL=silent_server + "/hook",
        MSPCTL_WEBHOOK_TOKEN=TOKEN,
        MSPCTL_NOTIFY_TIMEOUT="0.5",
    )
    assert_one_line_failure(result, f"webhook {silent_server} failed: no answer within 0.5 s")


def test_every_channel_is_tried_and_the_failure_says_what_went_out(tmp_path, receivers):
    receivers.append(receiver := Receiver())
    port = free_port()
    env = smtp_env(port) | {"MSPCTL_WEBHOOK_URL": receiver.url, "MSPCTL_WEBHOOK_TOKEN": TOKEN}
    line = assert_one_line_failure(notify(tmp_path, **env), "connection refused")
    assert line.endswith(f"(sent: webhook {receiver.url})"), line
    assert len(receiver.requests) == 1


def test_nothing_configured_is_bad_input(tmp_path):
    result = notify(tmp_path)
    assert result.exit_code == 3, result.output
    assert "MSPCTL_SMTP_HOST or MSPCTL_WEBHOOK_URL" in result.output


def test_bad_port_is_bad_input_naming_the_variable(tmp_path):
    result = notify(tmp_path, **smtp_env(70000))
    assert result.exit_code == 3, result.output
    assert result.output.strip() == "error: MSPCTL_SMTP_PORT: not a port (1-65535): '70000'"
