"""Connection settings a run can check before anything runs: Windows hosts over WinRM.

mspctl reaches Windows hosts with Ansible's ``winrm`` connection (pywinrm) over HTTPS only
(port 5986, the server certificate validated unless the inventory says otherwise, which is
warned about). The transport is chosen explicitly: ``ntlm`` (local or domain accounts, message
encryption on top of TLS), ``kerberos`` (domain accounts; needs pykerberos/requests-kerberos and
a ticket or a password) or ``credssp`` (needs requests-credssp; delegates the credential, for
second-hop access). ``basic``/``plaintext``/``ssl`` (basic auth) and ``certificate`` are refused:
they are off by default on Windows and send a reusable secret or need a mapped certificate
this project does not set up. What is wrong is bad input naming the client folder and the key,
so nothing runs (exit 3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

WINRM_TRANSPORTS = ("ntlm", "kerberos", "credssp")
WINRM_PORT = 5986
# transports that need the password (kerberos may use a ticket obtained with kinit)
_NEEDS_PASSWORD = frozenset({"ntlm", "credssp"})


@dataclass(frozen=True)
class ConnectionProblem:
    """One host's wrong connection setting: ``key`` is the inventory variable to fix."""

    host: str
    key: str
    message: str


@dataclass
class ConnectionReport:
    problems: list[ConnectionProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)


def is_winrm(variables: dict[str, Any]) -> bool:
    connection = str(variables.get("ansible_connection", ""))
    return connection in ("winrm", "ansible.builtin.winrm")


def _transports(value: Any) -> list[str]:
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, list | tuple):
        return [str(t).strip() for t in value]
    return [str(value)]


def check_winrm(
    host: str, variables: dict[str, Any], resolve: Callable[[str], str | None]
) -> ConnectionReport:
    """A WinRM host's settings: HTTPS, an explicit supported transport, its credentials.

    ``variables`` are the host's inventory variables (not templated); ``resolve(name)`` returns
    a variable's value as text, decrypted and templated (for the credentials)."""
    report = ConnectionReport()

    def problem(key: str, message: str) -> None:
        report.problems.append(ConnectionProblem(host, key, message))

    transport = variables.get("ansible_winrm_transport")
    if transport is None:
        problem(
            "ansible_winrm_transport",
            f"{host} connects over winrm: set the transport ({', '.join(WINRM_TRANSPORTS)})",
        )
        transports: list[str] = []
    else:
        transports = _transports(transport)
        wrong = [t for t in transports if t not in WINRM_TRANSPORTS]
        if wrong or not transports:
            problem(
                "ansible_winrm_transport",
                f"{host}: unsupported winrm transport {', '.join(wrong) or repr(transport)} "
                f"(use {', '.join(WINRM_TRANSPORTS)})",
            )
    scheme = str(variables.get("ansible_winrm_scheme", "")).lower()
    port = str(variables.get("ansible_port", WINRM_PORT))
    if scheme and scheme != "https":
        problem("ansible_winrm_scheme", f"{host}: winrm over {scheme}, mspctl uses https only")
    elif not scheme and port == "5985":  # ansible picks http for port 5985
        problem("ansible_port", f"{host}: port 5985 is winrm over http, use 5986 (https)")
    validation = str(variables.get("ansible_winrm_server_cert_validation", "validate")).lower()
    if validation == "ignore":
        report.warnings.append(
            f"{host}: the WinRM server certificate is not validated "
            "(ansible_winrm_server_cert_validation: ignore)"
        )
    elif validation != "validate":
        problem(
            "ansible_winrm_server_cert_validation",
            f"{host}: {validation!r} is neither validate nor ignore",
        )
    user = _first(resolve, ("ansible_user", "ansible_winrm_user"))
    if not user:
        problem("ansible_user", f"missing winrm user for {host}")
    if _NEEDS_PASSWORD.intersection(transports):
        password = _first(
            resolve, ("ansible_password", "ansible_winrm_pass", "ansible_winrm_password")
        )
        if not password:
            problem(
                "ansible_password",
                f"missing winrm password for {host} (transport {', '.join(transports)}; put it "
                "in an ansible-vault file such as group_vars/all/vault.yml)",
            )
        else:
            report.secrets.add(password)
    return report


def _first(resolve: Callable[[str], str | None], names: Iterable[str]) -> str | None:
    """The first of a variable's aliases that is set (ansible's winrm reads them all)."""
    for name in names:
        value = resolve(name)
        if value:
            return value
    return None


def merge(reports: Iterable[ConnectionReport]) -> ConnectionReport:
    merged = ConnectionReport()
    for report in reports:
        merged.problems += report.problems
        merged.warnings += report.warnings
        merged.secrets |= report.secrets
    return merged
