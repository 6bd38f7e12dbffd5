"""WinRM connection settings checked before a run (mspctl/connections.py)."""

from __future__ import annotations

from mspctl.connections import check_winrm, is_winrm


def _check(variables, secrets=None):
    secrets = (
        {"ansible_user": "mspctl", "ansible_password": "pw-1234"} if secrets is None else secrets
    )
    return check_winrm("win", variables, secrets.get)


def test_ntlm_over_https_is_accepted_and_its_password_masked():
    report = _check({"ansible_connection": "winrm", "ansible_winrm_transport": "ntlm"})
    assert report.problems == []
    assert report.secrets == {"pw-1234"}


def test_kerberos_may_use_a_ticket_without_a_password():
    report = _check(
        {"ansible_connection": "winrm", "ansible_winrm_transport": "kerberos"},
        {"ansible_user": "mspctl@EXAMPLE.COM"},
    )
    assert report.problems == []


def test_credssp_needs_a_password_under_any_alias():
    variables = {"ansible_connection": "winrm", "ansible_winrm_transport": "credssp"}
    assert [p.key for p in _check(variables, {"ansible_user": "u"}).problems] == [
        "ansible_password"
    ]
    assert _check(variables, {"ansible_winrm_user": "u", "ansible_winrm_pass": "p"}).problems == []


def test_transport_list_with_basic_auth_is_refused():
    report = _check({"ansible_connection": "winrm", "ansible_winrm_transport": "ntlm,ssl"})
    assert [(p.key, "ssl" in p.message) for p in report.problems] == [
        ("ansible_winrm_transport", True)
    ]


def test_ignored_certificate_is_a_warning_not_a_problem():
    report = _check(
        {
            "ansible_connection": "winrm",
            "ansible_winrm_transport": "ntlm",
            "ansible_winrm_server_cert_validation": "ignore",
        }
    )
    assert report.problems == []
    assert report.warnings and "not validated" in report.warnings[0]


def test_only_winrm_connections_are_checked():
    assert is_winrm({"ansible_connection": "ansible.builtin.winrm"})
    assert not is_winrm({"ansible_connection": "ssh"})
    assert not is_winrm({})


def _unreachable(host: str, message: str):
    from pathlib import Path

    from mspctl.runner import RunResult, TaskResult

    task = TaskResult(
        host, "Gathering Facts", None, "gather_facts", "unreachable", False, message, [], {}
    )
    return RunResult("failed", 4, {}, [task], Path("."))


def test_pywinrm_refusal_is_one_short_line():
    from mspctl.results import unreachable_reasons

    message = (
        "Task failed: ntlm: HTTPSConnectionPool(host='127.0.0.1', port=37787): Max retries "
        'exceeded with url: /wsman (Caused by NewConnectionError("HTTPSConnection(host='
        "'127.0.0.1', port=37787): Failed to establish a new connection: [Errno 111] "
        'Connection refused"))'
    )
    assert unreachable_reasons(_unreachable("win", message)) == {
        "win": "ntlm: https://127.0.0.1:37787: [Errno 111] Connection refused"
    }


def test_other_unreachable_messages_are_kept_on_one_line():
    from mspctl.results import unreachable_reasons

    message = "Task failed: Failed to connect to the host via ssh: ssh: connect to host\n port 1"
    assert unreachable_reasons(_unreachable("lin", message)) == {
        "lin": "Failed to connect to the host via ssh: ssh: connect to host port 1"
    }
