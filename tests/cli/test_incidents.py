"""``mspctl incidents``: the receiver on a real socket, the commands' exit codes, the PSA hook
delivered to a real HTTP server with a verified signature."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from incident_payloads import alert, payload, resolved

from mspctl.incidents.receiver import IncidentReceiver
from mspctl.incidents.service import publisher
from mspctl.incidents.sla import Clocks
from mspctl.notify import PSA_SIGNATURE_HEADER, PsaHooks, PsaSettings
from mspctl.store import Store
from mspctl.store.queries import incidents
from mspctl.workspace import Workspace

from .conftest import Receiver

SECRET = "s3cret-psa-key-0123456789"
NOW = dt.datetime(2026, 12, 4, 16, 31, tzinfo=dt.UTC)


@pytest.fixture
def acme(cli: Callable[..., Result]) -> Callable[..., Result]:
    result = cli("clients", "new", "acme", "--tier", "platinum", "--timezone", "Europe/Rome")
    assert result.exit_code == 0, result.output
    return cli


@pytest.fixture
def workspace(acme: Any, project: Path, home: Path) -> Workspace:
    return Workspace(project_dir=project, home=home)


@pytest.fixture
def receiver(workspace: Workspace) -> Iterator[IncidentReceiver]:
    before = set(threading.enumerate())
    server = IncidentReceiver(("127.0.0.1", 0), workspace.store, Clocks(workspace), now=lambda: NOW)
    server.start()
    yield server
    server.stop()
    assert _left(before) == []


def _left(before: set[threading.Thread]) -> list[threading.Thread]:
    """Threads started by the test still alive (keep-alive handler threads end with their
    connection; give them a moment)."""
    for thread in set(threading.enumerate()) - before:
        thread.join(5)
    return [t for t in set(threading.enumerate()) - before if t.is_alive()]


def post(url: str, body: bytes | Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_firing_repeat_and_resolved_on_a_real_socket(receiver: IncidentReceiver) -> None:
    store = receiver.store
    status, answer = post(receiver.url, payload(alert("f00d01"), alert("f00d02", host="srv2")))
    assert (status, answer) == (200, {"recorded": {"opened": 2}})
    assert post(receiver.url, payload(alert("f00d01")))[1] == {"recorded": {"repeat": 1}}
    (srv1,) = [i for i in incidents(store) if i.host == "srv1"]
    assert srv1.repeats == 1
    # platinum, a server: 1 h first response; Friday 17:30 in Rome is due Monday 08:30
    assert srv1.sla_minutes == 60
    assert srv1.due_at.replace(microsecond=0) == dt.datetime(2026, 12, 7, 7, 30, tzinfo=dt.UTC)
    assert srv1.calendar["country"] == "IT"
    ended = dt.datetime(2026, 12, 7, 7, 10, tzinfo=dt.UTC)
    assert post(receiver.url, payload(resolved("f00d01", ended)))[1] == {
        "recorded": {"resolved": 1}
    }
    rows = {i.fingerprint: i for i in incidents(store)}
    assert rows["f00d01"].status == "resolved"
    assert rows["f00d02"].status == "open"


MALFORMED = [
    (b"{not json", "not JSON"),
    (b"[]", "JSON object"),
    (json.dumps({**payload(alert("f1")), "version": "3"}).encode(), "version"),
    (json.dumps(payload({**alert("f1"), "status": "pending"})).encode(), "status"),
    (json.dumps(payload({**alert("f1"), "startsAt": "yesterday"})).encode(), "startsAt"),
    (json.dumps(payload({**alert("f1"), "labels": {"a": 1}})).encode(), "labels"),
    # one bad alert among good ones: nothing of the payload is recorded
    (
        json.dumps(payload(alert("ok1"), {**alert("f1"), "fingerprint": ""})).encode(),
        "fingerprint",
    ),
]


def test_a_malformed_body_is_400_and_records_nothing(receiver: IncidentReceiver) -> None:
    for body, reason in MALFORMED:
        status, answer = post(receiver.url, body)
        assert status == 400, (body, answer)
        assert reason in answer["error"], (body, answer)
    assert incidents(receiver.store) == []


def test_wrong_path_and_health(receiver: IncidentReceiver) -> None:
    assert post(receiver.url.replace("/alerts", "/other"), payload(alert("f1")))[0] == 404
    with urllib.request.urlopen(receiver.url.replace("/alerts", "/healthz"), timeout=5) as r:
        assert r.status == 200


def _incident(cli: Callable[..., Result], receiver: IncidentReceiver) -> int:
    post(receiver.url, payload(alert("f00d01")))
    (row,) = cli.json("incidents", "list")  # type: ignore[attr-defined]
    return int(row["id"])


def test_list_show_ack_resolve(acme: Any, receiver: IncidentReceiver) -> None:
    cli = acme
    number = _incident(cli, receiver)
    shown = cli.json("incidents", "show", str(number), "--now", "2026-12-07T08:00+01:00")
    assert shown["sla"]["state"] == "pending"
    assert shown["sla"]["business_minutes_used"] == 30  # 17:30-18:00 Friday
    late = cli.json("incidents", "list", "--breaching", "--now", "2026-12-07T08:10+01:00")
    assert [i["id"] for i in late] == [number]  # due 08:30, within 30 minutes
    early = cli.json(
        "incidents", "list", "--breaching", "--within", "5", "--now", "2026-12-07T08:10+01:00"
    )
    assert early == []
    acked = cli.json(
        "incidents", "ack", str(number), "--by", "anna", "--now", "2026-12-07T08:20+01:00"
    )
    assert (acked["status"], acked["acked_by"]) == ("acked", "anna")
    assert acked["sla"]["state"] == "met"
    assert acked["sla"]["business_minutes_used"] == 50
    assert cli.json("incidents", "list", "--breaching") == []
    result = cli("incidents", "ack", str(number))
    assert result.exit_code == 3, result.output
    assert "already acknowledged by anna" in result.output
    result = cli("incidents", "resolve", str(number), "--by", "anna")
    assert result.exit_code == 0, result.output
    table = cli("incidents", "list")
    assert table.exit_code == 0, table.output
    assert "resolved" in table.output
    assert "srv1" in table.output


def test_unknown_incident_and_ack_of_a_resolved_one_exit_3(
    acme: Any, receiver: IncidentReceiver
) -> None:
    cli = acme
    for command in ("show", "ack", "resolve"):
        result = cli("incidents", command, "4242")
        assert result.exit_code == 3, result.output
        assert "unknown incident 4242" in result.output
    number = _incident(cli, receiver)
    ended = dt.datetime(2026, 12, 7, 7, 10, tzinfo=dt.UTC)
    post(receiver.url, payload(resolved("f00d01", ended)))
    result = cli("incidents", "ack", str(number), "--by", "bob")
    assert result.exit_code == 3, result.output
    assert f"incident {number} was resolved" in result.output
    (row,) = cli.json("incidents", "list")
    assert (row["acked_by"], row["acked_at"], row["resolved_by"]) == (None, None, "alertmanager")


def test_serve_rejects_a_bad_listen_address(acme: Any) -> None:
    result = acme("incidents", "serve", "--listen", "nowhere")
    assert result.exit_code == 3, result.output
    assert "--listen" in result.output


# -- the PSA hook ---------------------------------------------------------------------------------
class FlakyReceiver(Receiver):
    """Answers 500 to the first ``failures`` requests, then 200."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        super().__init__(200)

    @property
    def status(self) -> int:  # type: ignore[override]
        return 500 if len(self.requests) <= self.failures else 200

    @status.setter
    def status(self, _value: int) -> None:
        pass


def _verify(request: tuple[str, str, dict[str, str], bytes]) -> dict[str, Any]:
    _, _, headers, body = request
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[PSA_SIGNATURE_HEADER], expected)
    return dict(json.loads(body))


def test_psa_hook_signed_and_retried_after_a_500(
    workspace: Workspace, receivers: list[Receiver], caplog: pytest.LogCaptureFixture
) -> None:
    psa_server = FlakyReceiver(failures=1)
    receivers.append(psa_server)
    before = set(threading.enumerate())
    psa = PsaSettings.from_env(
        {
            "MSPCTL_PSA_URL": psa_server.url + "/hook",
            "MSPCTL_PSA_SECRET": SECRET,
            "MSPCTL_PSA_BACKOFF": "0.05",
        }
    )
    assert psa is not None
    assert SECRET not in repr(psa)
    hooks = PsaHooks(psa).start()
    server = IncidentReceiver(
        ("127.0.0.1", 0),
        workspace.store,
        Clocks(workspace),
        on_events=publisher(hooks),
        now=lambda: NOW,
    )
    server.start()
    try:
        assert post(server.url, payload(alert("f00d01")))[0] == 200
        assert post(server.url, payload(alert("f00d01")))[0] == 200  # a repeat: no event
        assert hooks.join(10)
    finally:
        server.stop()
        hooks.stop()
    assert _left(before) == []
    first, retried = psa_server.requests
    assert first[3] == retried[3]  # the same body, signature and delivery id
    assert first[2]["X-Mspctl-Delivery"] == retried[2]["X-Mspctl-Delivery"]
    data = _verify(retried)
    assert (data["event"], data["incident"]["host"]) == ("incident.opened", "srv1")
    assert data["incident"]["sla"]["due_at"].startswith("2026-12-07T07:30:00")
    assert len(hooks.delivered) == 1
    assert SECRET not in caplog.text


def test_psa_hook_on_ack_from_the_cli(
    acme: Any, receiver: IncidentReceiver, receivers: list[Receiver]
) -> None:
    cli = acme
    psa_server = Receiver(200)
    receivers.append(psa_server)
    number = _incident(cli, receiver)
    cli.env.update({"MSPCTL_PSA_URL": psa_server.url, "MSPCTL_PSA_SECRET": SECRET})
    result = cli("incidents", "ack", str(number), "--by", "anna")
    assert result.exit_code == 0, result.output
    (request,) = psa_server.requests
    data = _verify(request)
    assert (data["event"], data["incident"]["acked_by"]) == ("incident.acked", "anna")
    assert SECRET not in result.output


def test_psa_hook_gives_up_and_stop_does_not_wait(receivers: list[Receiver]) -> None:
    down = Receiver(500)
    receivers.append(down)
    psa = PsaSettings(down.url, SECRET, retries=2, backoff=60.0)
    hooks = PsaHooks(psa).start()
    hooks.submit("incident.opened", {"id": 1})
    hooks.submit("incident.opened", {"id": 2})
    threading.Event().wait(0.3)  # first attempt failed, now in a 60 s backoff
    started = dt.datetime.now(dt.UTC)
    hooks.stop()
    assert dt.datetime.now(dt.UTC) - started < dt.timedelta(seconds=5)
    assert not hooks._thread.is_alive()
    assert hooks.dropped == 2
    assert len(down.requests) == 1


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"MSPCTL_PSA_URL": "ftp://psa"}, "MSPCTL_PSA_URL"),
        ({"MSPCTL_PSA_URL": "https://psa.example"}, "MSPCTL_PSA_SECRET"),
        ({"MSPCTL_PSA_SECRET": SECRET}, "MSPCTL_PSA_URL"),
        (
            {
                "MSPCTL_PSA_URL": "https://psa",
                "MSPCTL_PSA_SECRET": SECRET,
                "MSPCTL_PSA_RETRIES": "x",
            },
            "MSPCTL_PSA_RETRIES",
        ),
    ],
)
def test_psa_settings_bad_values_name_the_variable(env: dict[str, str], key: str) -> None:
    from mspctl.errors import BadInput

    with pytest.raises(BadInput, match=key) as raised:
        PsaSettings.from_env(env)
    assert SECRET not in str(raised.value)


def test_store_fixture_is_sqlite(workspace: Workspace) -> None:
    assert isinstance(workspace.store, Store)


def test_a_bad_psa_setting_on_ack_is_exit_3_and_records_nothing(
    acme: Any, receiver: IncidentReceiver
) -> None:
    cli = acme
    number = _incident(cli, receiver)
    cli.env.update({"MSPCTL_PSA_URL": "https://psa.example/hook", "MSPCTL_PSA_SECRET": "short"})
    result = cli("incidents", "ack", str(number), "--by", "anna")
    assert result.exit_code == 3, result.output
    assert "MSPCTL_PSA_SECRET" in result.output
    assert "short" not in result.output
    del cli.env["MSPCTL_PSA_URL"], cli.env["MSPCTL_PSA_SECRET"]
    (row,) = cli.json("incidents", "list")
    assert row["acked_at"] is None


def test_serve_runs_until_sigterm_and_leaves_nothing(acme: Any) -> None:
    """The real command in its own process: it records a post, stops on SIGTERM with exit 0."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **acme.env}
    process = subprocess.Popen(
        [sys.executable, "-m", "mspctl", "incidents", "serve", "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/alerts"
        deadline = time.monotonic() + 60
        while True:  # the socket is bound once the clients' clocks are loaded
            try:
                with urllib.request.urlopen(url.replace("/alerts", "/healthz"), timeout=5):
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "the receiver did not start"
                time.sleep(0.2)
        assert post(url, payload(alert("f00d01"))) == (200, {"recorded": {"opened": 1}})
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "receiving Alertmanager's alerts on http://127.0.0.1" in output
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)
    (row,) = acme.json("incidents", "list")
    assert row["host"] == "srv1"


# -- the rest of the bad-input list -------------------------------------------------------
MORE_MALFORMED = [
    (b"\xff\xfe\x00garbage", "not JSON"),
    (json.dumps({**payload(alert("f1")), "alerts": {"a": 1}}).encode(), "alerts must be a list"),
    (
        json.dumps({**payload(alert("f1")), "alerts": ["not an alert"]}).encode(),
        "alerts[0] must be an object",
    ),
    (json.dumps(payload({**alert("f1"), "endsAt": "soon"})).encode(), "endsAt"),
    (
        json.dumps(payload({**alert("f1"), "startsAt": "2026-12-04T16:30:00"})).encode(),
        "UTC offset",
    ),
]


def test_more_malformed_bodies_are_400_and_change_nothing(
    acme: Any, receiver: IncidentReceiver
) -> None:
    """Malformed bodies next to an open incident: each is HTTP 400 with its reason, and the
    open incident is left as it was (no repeat counted, nothing opened or closed)."""
    number = _incident(acme, receiver)
    before = acme.json("incidents", "show", str(number))
    for body, reason in MORE_MALFORMED:
        status, answer = post(receiver.url, body)
        assert status == 400, (body, answer)
        assert reason in answer["error"], (body, answer)
    # a resolution of the open incident with a malformed sibling: the whole payload is refused
    half = payload(resolved("f00d01", NOW), {**alert("f2"), "status": "gone"})
    assert post(receiver.url, half)[0] == 400
    assert [i.id for i in incidents(receiver.store)] == [number]
    assert acme.json("incidents", "show", str(number)) == before


def test_no_content_length_is_411_and_records_nothing(receiver: IncidentReceiver) -> None:
    import http.client

    host, port = receiver.server_address[:2]
    connection = http.client.HTTPConnection(str(host), int(port), timeout=10)
    try:
        connection.putrequest("POST", "/alerts")
        connection.putheader("Content-Type", "application/json")
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 411, response.read()
    finally:
        connection.close()
    assert incidents(receiver.store) == []


def test_resolving_twice_is_exit_3_and_keeps_the_first_resolution(
    acme: Any, receiver: IncidentReceiver
) -> None:
    cli = acme
    number = _incident(cli, receiver)
    first = cli("incidents", "resolve", str(number), "--by", "anna", "--now", "2026-12-07T09:00Z")
    assert first.exit_code == 0, first.output
    again = cli("incidents", "resolve", str(number), "--by", "bob")
    assert again.exit_code == 3, again.output
    assert f"incident {number} was resolved at 2026-12-07 09:00 UTC by anna" in again.output
    assert "Traceback" not in again.output and len(again.output.strip().splitlines()) == 1
    row = cli.json("incidents", "show", str(number))
    assert (row["resolved_by"], row["resolved_at"]) == ("anna", "2026-12-07T09:00:00Z")
    assert row["acked_at"] is None


def test_bad_input_errors_are_one_line_without_traceback(acme: Any) -> None:
    for args in (("show", "99"), ("ack", "99", "--by", "x"), ("resolve", "99")):
        result = acme("incidents", *args)
        assert result.exit_code == 3, result.output
        assert result.output.strip().count("\n") == 0, result.output
        assert "Traceback" not in result.output
