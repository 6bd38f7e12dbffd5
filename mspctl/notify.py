"""Notifications: a run summary sent to the MSP by email (SMTP) and to a webhook.

One module for fleet runs and incidents alike. A caller builds a :class:`Summary`, reads
:class:`Settings` from the environment once (:meth:`Settings.from_env`, bad values are
:class:`~mspctl.errors.BadInput` naming the variable) and calls :func:`send`, which returns what
was delivered where, or raises one :class:`NotifyError` line naming the server that failed.

Secrets (``MSPCTL_SMTP_PASSWORD``, ``MSPCTL_WEBHOOK_TOKEN``) are read from the environment only,
kept out of ``repr``, and scrubbed from every message this module raises; servers are named
``scheme://host:port`` only (a webhook URL's path or userinfo may itself be a secret). SMTP
debug output is never enabled: it would print the AUTH exchange.
"""

from __future__ import annotations

import ipaddress
import json
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any, Literal, get_args
from urllib.parse import SplitResult, urlsplit

from mspctl import __version__
from mspctl.errors import BadInput, MspctlError

Status = Literal["ok", "failed", "drift"]
TlsMode = Literal["starttls", "tls", "none"]
WebhookFormat = Literal["json", "alertmanager"]

DEFAULT_TIMEOUT = 10.0
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "tls": 465, "none": 25}
MASK = "***"
JSON_KIND = "mspctl.summary"
JSON_VERSION = 1


# -- the summary ----------------------------------------------------------------------------
COUNTS = ("patched", "missed", "caught_up", "failed", "drift", "failing_controls")


@dataclass(frozen=True)
class ClientLine:
    """One client's figures in a summary."""

    client: str
    patched: int = 0  # hosts patched
    missed: int = 0  # hosts that missed their window (unreachable during it)
    caught_up: int = 0  # hosts patched after a missed window
    failed: int = 0  # hosts that failed
    drift: int = 0  # hosts with drift
    failing_controls: int = 0
    run_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.client:
            raise ValueError("ClientLine.client must not be empty")
        for name in COUNTS:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"ClientLine.{name} must be a non-negative int, not {value!r}")
        object.__setattr__(self, "run_ids", tuple(self.run_ids))

    @property
    def severity(self) -> Literal["critical", "warning", "none"]:
        if self.failed:
            return "critical"
        # a miss the tier tolerates (a workstation switched off); one it does not is also failed
        if self.missed or self.drift or self.failing_controls:
            return "warning"
        return "none"


@dataclass(frozen=True)
class TrialEnding:
    """A client's trial that ends soon, and what the client loses then (mspctl.trials)."""

    client: str
    tier: str
    end: str  # ISO date
    days_left: int
    after: str  # the contract tier the client falls back to
    lost: tuple[str, ...] = ()  # tier settings lost (`tiers diff` keys)
    changed: int = 0  # tier settings that change value

    def text(self) -> str:
        when = "today" if self.days_left == 0 else f"in {self.days_left} day(s)"
        loses = ", ".join(self.lost) or "nothing"
        more = f" (+{self.changed} changed)" if self.changed else ""
        return (
            f"{self.client}: {self.tier} trial ends {self.end} ({when}), then {self.after}; "
            f"loses {loses}{more}"
        )


@dataclass(frozen=True)
class Summary:
    """What a fleet run (or an incident) tells the MSP. Times must be timezone-aware."""

    title: str
    status: Status
    started: datetime
    ended: datetime
    clients: tuple[ClientLine, ...] = ()
    trials: tuple[TrialEnding, ...] = ()  # trials ending soon: keep it, change it or stop it

    def __post_init__(self) -> None:
        if self.status not in get_args(Status):
            raise ValueError(f"Summary.status must be one of {get_args(Status)}: {self.status!r}")
        for name in ("started", "ended"):
            if getattr(self, name).utcoffset() is None:
                raise ValueError(f"Summary.{name} must be timezone-aware")
        if self.ended < self.started:
            raise ValueError("Summary.ended is before Summary.started")
        object.__setattr__(self, "clients", tuple(self.clients))
        object.__setattr__(self, "trials", tuple(self.trials))

    def totals(self) -> dict[str, int]:
        return {name: sum(getattr(c, name) for c in self.clients) for name in COUNTS}

    @property
    def one_line_title(self) -> str:
        return " ".join(self.title.split()) or "mspctl"


def sample_summary(now: datetime | None = None) -> Summary:
    """A made-up summary for ``mspctl notify test``: two clients, one with problems."""
    ended = (now or datetime.now(UTC)).replace(microsecond=0)
    started = ended.replace(minute=0, second=0) if ended.minute else ended
    return Summary(
        title="mspctl notification test (sample figures)",
        status="failed",
        started=started,
        ended=ended,
        clients=(
            ClientLine("example-acme", patched=12, missed=1, failing_controls=2, run_ids=("r1",)),
            ClientLine("example-globex", patched=5, failed=1, drift=2, run_ids=("r2", "r3")),
        ),
    )


# -- rendering ------------------------------------------------------------------------------
def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _duration(summary: Summary) -> str:
    seconds = int((summary.ended - summary.started).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def subject(summary: Summary) -> str:
    return f"[mspctl] {summary.status.upper()}: {summary.one_line_title}"


def render_text(summary: Summary) -> str:
    """The summary as plain text: a header, one aligned row per client, and the totals."""
    started = summary.started.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    ended = summary.ended.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        f"{summary.one_line_title}",
        f"status: {summary.status.upper()}",
        f"started {started}, ended {ended} ({_duration(summary)})",
        "",
    ]
    if not summary.clients:
        lines.append("no clients in this run")
        return "\n".join(lines) + _trials_text(summary) + "\n"
    header = ("client", *(n.replace("_", " ") for n in COUNTS), "runs")
    rows = [
        (c.client, *(str(getattr(c, n)) for n in COUNTS), ", ".join(c.run_ids) or "-")
        for c in summary.clients
    ]
    totals = summary.totals()
    rows.append(("total", *(str(totals[n]) for n in COUNTS), ""))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def fmt(row: tuple[str, ...]) -> str:
        cells = [row[0].ljust(widths[0])]
        cells += [row[i].rjust(widths[i]) for i in range(1, len(COUNTS) + 1)]
        cells.append(row[-1])
        return "  ".join(cells).rstrip()

    lines.append(fmt(header))
    lines.extend(fmt(r) for r in rows)
    return "\n".join(lines) + _trials_text(summary) + "\n"


def _trials_text(summary: Summary) -> str:
    if not summary.trials:
        return ""
    return "\n\ntrials ending soon:\n" + "\n".join(f"- {t.text()}" for t in summary.trials)


def render_json(summary: Summary) -> dict[str, Any]:
    """The summary as a JSON-ready dict (the generic webhook's body)."""
    return {
        "kind": JSON_KIND,
        "version": JSON_VERSION,
        "title": summary.title,
        "status": summary.status,
        "started": _iso(summary.started),
        "ended": _iso(summary.ended),
        "clients": [
            {
                "client": c.client,
                **{n: getattr(c, n) for n in COUNTS},
                "run_ids": list(c.run_ids),
            }
            for c in summary.clients
        ],
        "totals": summary.totals(),
        "trials": [
            {
                "client": t.client,
                "tier": t.tier,
                "end": t.end,
                "days_left": t.days_left,
                "after": t.after,
                "lost": list(t.lost),
                "changed": t.changed,
            }
            for t in summary.trials
        ],
    }


def render_alertmanager(summary: Summary) -> list[dict[str, Any]]:
    """Alerts as Alertmanager's ``POST /api/v2/alerts`` accepts them: one per client.

    A client with failed hosts fires ``critical``, one with missed windows, drift or failing
    controls ``warning``; a healthy client's alert is sent resolved (``endsAt`` = the run's
    end), so an earlier alert for it clears. Without clients, one alert stands for the whole run.
    """
    base_labels = {"alertname": "MspctlRun", "source": "mspctl"}
    text = summary.one_line_title
    alerts: list[dict[str, Any]] = []
    for c in summary.clients:
        figures = ", ".join(f"{n.replace('_', ' ')} {getattr(c, n)}" for n in COUNTS)
        alert: dict[str, Any] = {
            "labels": {**base_labels, "client": c.client, "severity": c.severity},
            "annotations": {
                "summary": f"{c.client}: {text}",
                "description": figures,
                "run_ids": ", ".join(c.run_ids),
            },
            "startsAt": _iso(summary.started),
        }
        if c.severity == "none":
            alert["endsAt"] = _iso(summary.ended)
        alerts.append(alert)
    if not alerts:
        severity = {"failed": "critical", "drift": "warning", "ok": "none"}[summary.status]
        alert = {
            "labels": {**base_labels, "severity": severity},
            "annotations": {"summary": text, "description": f"status {summary.status}"},
            "startsAt": _iso(summary.started),
        }
        if severity == "none":
            alert["endsAt"] = _iso(summary.ended)
        alerts.append(alert)
    return alerts


# -- settings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    tls: TlsMode = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def server(self) -> str:
        """The server as it may be shown: never the credentials."""
        return f"smtp://{_host_port(self.host, self.port)} ({self.tls})"


@dataclass(frozen=True)
class WebhookSettings:
    url: str = field(repr=False)  # its path or userinfo may be a secret: show `server`
    format: WebhookFormat = "json"
    token: str | None = field(default=None, repr=False)

    @property
    def server(self) -> str:
        """``scheme://host:port`` of the URL, as it may be shown."""
        return _server(self.url)


@dataclass(frozen=True)
class Settings:
    """Where notifications go; either channel may be unset."""

    smtp: SmtpSettings | None = None
    webhook: WebhookSettings | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def configured(self) -> bool:
        return self.smtp is not None or self.webhook is not None

    @property
    def secrets(self) -> tuple[str, ...]:
        values = [
            self.smtp.password if self.smtp else None,
            self.webhook.token if self.webhook else None,
        ]
        return tuple(v for v in values if v)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check the ``MSPCTL_SMTP_*``, ``MSPCTL_WEBHOOK_*`` and
        ``MSPCTL_NOTIFY_TIMEOUT`` variables; a bad value is :class:`BadInput` naming it."""
        env = os.environ if environ is None else environ
        return cls(smtp=_smtp_from_env(env), webhook=_webhook_from_env(env), timeout=_timeout(env))


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = (env.get(name) or "").strip()
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise BadInput("must not contain control characters (line breaks)", key=name)
    return value or None


def _timeout(env: Mapping[str, str]) -> float:
    raw = _get(env, "MSPCTL_NOTIFY_TIMEOUT")
    if raw is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise BadInput(f"not a number of seconds: {raw!r}", key="MSPCTL_NOTIFY_TIMEOUT") from None
    if not 0 < value <= 3600:  # an hour is no longer a timeout
        raise BadInput(f"must be between 0 and 3600 seconds: {raw!r}", key="MSPCTL_NOTIFY_TIMEOUT")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _addresses(raw: str, name: str) -> tuple[str, ...]:
    found = tuple(addr for _, addr in getaddresses([raw]) if addr)
    if not found or any("@" not in a for a in found):
        raise BadInput(f"not a list of email addresses: {raw!r}", key=name)
    return found


def _smtp_from_env(env: Mapping[str, str]) -> SmtpSettings | None:
    host = _get(env, "MSPCTL_SMTP_HOST")
    if host is None:
        others = [n for n in ("MSPCTL_SMTP_TO", "MSPCTL_SMTP_FROM") if _get(env, n)]
        if others:
            raise BadInput(f"set MSPCTL_SMTP_HOST too ({others[0]} is set)", key="MSPCTL_SMTP_HOST")
        return None
    tls = _get(env, "MSPCTL_SMTP_TLS") or "starttls"
    if tls not in get_args(TlsMode):
        raise BadInput(f"must be starttls, tls or none, not {tls!r}", key="MSPCTL_SMTP_TLS")
    raw_port = _get(env, "MSPCTL_SMTP_PORT")
    port = DEFAULT_PORTS[tls]
    if raw_port is not None:
        if not raw_port.isdigit() or not 1 <= int(raw_port) <= 65535:
            raise BadInput(f"not a port (1-65535): {raw_port!r}", key="MSPCTL_SMTP_PORT")
        port = int(raw_port)
    sender = _get(env, "MSPCTL_SMTP_FROM")
    if sender is None:
        raise BadInput("required when MSPCTL_SMTP_HOST is set", key="MSPCTL_SMTP_FROM")
    recipients = _get(env, "MSPCTL_SMTP_TO")
    if recipients is None:
        raise BadInput("required when MSPCTL_SMTP_HOST is set", key="MSPCTL_SMTP_TO")
    _addresses(sender, "MSPCTL_SMTP_FROM")
    user = _get(env, "MSPCTL_SMTP_USER")
    password = env.get("MSPCTL_SMTP_PASSWORD") or None  # never echoed, never stripped
    if user and not password:
        raise BadInput("required when MSPCTL_SMTP_USER is set", key="MSPCTL_SMTP_PASSWORD")
    if password and not user:
        raise BadInput("required when MSPCTL_SMTP_PASSWORD is set", key="MSPCTL_SMTP_USER")
    if user and tls == "none" and not _is_loopback(host):
        raise BadInput(
            "none would send the password in clear to a remote server; use starttls or tls",
            key="MSPCTL_SMTP_TLS",
        )
    return SmtpSettings(
        host=host,
        port=port,
        sender=sender,
        recipients=_addresses(recipients, "MSPCTL_SMTP_TO"),
        tls=tls,  # type: ignore[arg-type]  # checked against TlsMode above
        user=user,
        password=password,
    )


def _webhook_from_env(env: Mapping[str, str]) -> WebhookSettings | None:
    url = _get(env, "MSPCTL_WEBHOOK_URL")
    fmt = _get(env, "MSPCTL_WEBHOOK_FORMAT") or "json"
    if fmt not in get_args(WebhookFormat):
        raise BadInput(f"must be json or alertmanager, not {fmt!r}", key="MSPCTL_WEBHOOK_FORMAT")
    token = env.get("MSPCTL_WEBHOOK_TOKEN") or None
    if token is not None and any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in token):
        raise BadInput("must not contain spaces or control characters", key="MSPCTL_WEBHOOK_TOKEN")
    if url is None:
        if token is not None:
            raise BadInput("set MSPCTL_WEBHOOK_URL too (a token is set)", key="MSPCTL_WEBHOOK_URL")
        return None
    parts = _http_url(url, "MSPCTL_WEBHOOK_URL", "MSPCTL_WEBHOOK_TOKEN")
    if token and parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        raise BadInput(
            "http would send the token in clear to a remote server; use https",
            key="MSPCTL_WEBHOOK_URL",
        )
    return WebhookSettings(url=url, format=fmt, token=token)  # type: ignore[arg-type]


def _http_url(url: str, key: str, secret_key: str) -> SplitResult:
    """``url`` split, if it is an http(s) URL with a host and no credentials; else bad input
    naming ``key``."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise BadInput("not a valid URL", key=key) from None
    if parts.scheme not in ("http", "https"):
        raise BadInput(f"scheme must be http or https, not {parts.scheme or 'none'}", key=key)
    if not parts.hostname:
        raise BadInput("has no host", key=key)
    if "@" in parts.netloc:  # urllib would take it for part of the host name
        raise BadInput(f"credentials in the URL are not supported; use {secret_key}", key=key)
    return parts


def _server(url: str) -> str:
    """``scheme://host:port`` of a URL, as it may be shown (its path or userinfo may be a
    secret)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{_host_port(parts.hostname or '', port)}"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- delivery -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    """One notification delivered: the channel, where (secrets never shown), and what."""

    channel: Literal["email", "webhook"]
    target: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"channel": self.channel, "target": self.target, "detail": self.detail}


class NotifyError(MspctlError):
    """A delivery failed; one line naming the server, secrets masked. ``delivered`` holds what
    went out before (or besides) the failure."""

    def __init__(self, message: str, delivered: Iterable[Delivery] = ()) -> None:
        super().__init__(message)
        self.delivered = tuple(delivered)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (longest first, so none leaks in part)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


def build_email(summary: Summary, smtp: SmtpSettings) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject(summary)
    message["From"] = smtp.sender
    message["To"] = ", ".join(smtp.recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or None)
    message["X-Mailer"] = f"mspctl {__version__}"
    message.set_content(render_text(summary))
    return message


def send_email(summary: Summary, smtp: SmtpSettings, timeout: float = DEFAULT_TIMEOUT) -> Delivery:
    """Send the summary by SMTP; failures are one :class:`NotifyError` line naming the server."""
    message = build_email(summary, smtp)
    context = ssl.create_default_context()
    try:
        client: smtplib.SMTP
        if smtp.tls == "tls":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
        with client:
            client.ehlo()
            if smtp.tls == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if smtp.user:
                assert smtp.password is not None
                client.login(smtp.user, smtp.password)
            refused = client.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError(_smtp_failure(smtp, f"login refused ({_smtp_reply(exc)})")) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused_all = ", ".join(sorted(exc.recipients))
        raise NotifyError(_smtp_failure(smtp, f"recipients refused: {refused_all}")) from None
    except smtplib.SMTPResponseException as exc:
        raise NotifyError(_smtp_failure(smtp, _smtp_reply(exc))) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise NotifyError(_smtp_failure(smtp, f"not supported by the server: {exc}")) from None
    except (TimeoutError, smtplib.SMTPServerDisconnected, OSError, smtplib.SMTPException) as exc:
        raise NotifyError(_smtp_failure(smtp, _os_reason(exc, timeout))) from None
    if refused:
        names = ", ".join(sorted(refused))
        raise NotifyError(_smtp_failure(smtp, f"recipients refused: {names}"))
    return Delivery("email", smtp.server, f"to {', '.join(smtp.recipients)}: {message['Subject']}")


def _smtp_reply(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return f"{exc.smtp_code} {' '.join(text.split())}"


def _smtp_failure(smtp: SmtpSettings, reason: str) -> str:
    secrets = [smtp.password] if smtp.password else []
    return scrub(f"email via {smtp.server} failed: {reason}", secrets)


def _os_reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: following it would resend the bearer token elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    what: str,
    server: str,
    timeout: float,
    secrets: Iterable[str],
) -> int:
    """POST ``body``; the HTTP status, or a :class:`NotifyError` naming ``what`` and
    ``server`` only (secrets masked) for anything but 2xx or a failed connection."""
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s)
        url, data=body, headers=headers, method="POST"
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            code: int = response.status
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} {' '.join(str(exc.reason).split())}".rstrip()
        raise NotifyError(scrub(f"{what} {server} answered {reason}", secrets)) from None
    except urllib.error.URLError as exc:
        why = exc.reason if isinstance(exc.reason, BaseException) else OSError(str(exc.reason))
        raise NotifyError(
            scrub(f"{what} {server} failed: {_os_reason(why, timeout)}", secrets)
        ) from None
    except OSError as exc:  # TimeoutError while reading the answer included
        raise NotifyError(
            scrub(f"{what} {server} failed: {_os_reason(exc, timeout)}", secrets)
        ) from None
    if not 200 <= code < 300:
        raise NotifyError(scrub(f"{what} {server} answered HTTP {code}", secrets))
    return code


def webhook_body(summary: Summary, fmt: WebhookFormat) -> Any:
    return render_alertmanager(summary) if fmt == "alertmanager" else render_json(summary)


def post_webhook(
    summary: Summary, webhook: WebhookSettings, timeout: float = DEFAULT_TIMEOUT
) -> Delivery:
    """POST the summary as JSON (or as Alertmanager alerts); anything but 2xx is a
    :class:`NotifyError` naming ``scheme://host:port`` only."""
    body = webhook_body(summary, webhook.format)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"mspctl/{__version__}",
    }
    if webhook.token:
        headers["Authorization"] = f"Bearer {webhook.token}"
    code = _post(
        webhook.url,
        json.dumps(body).encode(),
        headers,
        what="webhook",
        server=webhook.server,
        timeout=timeout,
        secrets=Settings(webhook=webhook).secrets,
    )
    count = f", {len(body)} alerts" if webhook.format == "alertmanager" else ""
    return Delivery("webhook", webhook.server, f"{webhook.format}{count}, HTTP {code}")


def send(summary: Summary, settings: Settings) -> list[Delivery]:
    """Deliver the summary to every configured channel (none configured: nothing to do).

    Every channel is tried even if one fails; then a failure is one :class:`NotifyError` line
    (several joined with ``; ``) whose ``delivered`` lists what did go out.
    """
    delivered: list[Delivery] = []
    failures: list[str] = []
    if settings.smtp is not None:
        try:
            delivered.append(send_email(summary, settings.smtp, settings.timeout))
        except NotifyError as exc:
            failures.append(exc.message)
    if settings.webhook is not None:
        try:
            delivered.append(post_webhook(summary, settings.webhook, settings.timeout))
        except NotifyError as exc:
            failures.append(exc.message)
    if failures:
        message = "; ".join(failures)
        if delivered:
            message += " (sent: " + ", ".join(f"{d.channel} {d.target}" for d in delivered) + ")"
        raise NotifyError(scrub(message, settings.secrets), delivered)
    return delivered


# -- PSA hooks: incidents to a ticketing tool --------------------------------------------------
# A generic JSON webhook on each incident event (opened, acked, resolved), signed with
# HMAC-SHA256 over the exact body bytes: the PSA recomputes it with the shared secret and
# compares in constant time. The delivery id stays the same across retries (an idempotency key).
PSA_SIGNATURE_HEADER = "X-Mspctl-Signature"  # "sha256=<hex>"
PSA_EVENT_HEADER = "X-Mspctl-Event"  # incident.opened | incident.acked | incident.resolved
PSA_DELIVERY_HEADER = "X-Mspctl-Delivery"
PSA_KIND = "mspctl.incident"
MAX_BACKOFF = 300.0


@dataclass(frozen=True)
class PsaSettings:
    url: str = field(repr=False)
    secret: str = field(repr=False)
    retries: int = 6  # attempts after the first
    backoff: float = 2.0  # seconds before the first retry, doubled each time (max 5 min)
    timeout: float = DEFAULT_TIMEOUT

    @property
    def server(self) -> str:
        return _server(self.url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PsaSettings | None:
        """``MSPCTL_PSA_URL`` (unset: no hook), ``MSPCTL_PSA_SECRET`` (required with it),
        ``MSPCTL_PSA_RETRIES``, ``MSPCTL_PSA_BACKOFF`` and ``MSPCTL_NOTIFY_TIMEOUT``."""
        env = os.environ if environ is None else environ
        url = _get(env, "MSPCTL_PSA_URL")
        secret = env.get("MSPCTL_PSA_SECRET") or None
        if url is None:
            if secret is not None:
                raise BadInput("set MSPCTL_PSA_URL too (a secret is set)", key="MSPCTL_PSA_URL")
            return None
        _http_url(url, "MSPCTL_PSA_URL", "MSPCTL_PSA_SECRET")
        if secret is None or len(secret) < 16:
            raise BadInput(
                "required with MSPCTL_PSA_URL, 16 characters or more", key="MSPCTL_PSA_SECRET"
            )
        retries = _number(env, "MSPCTL_PSA_RETRIES", 6, 0, 20)
        backoff = _number(env, "MSPCTL_PSA_BACKOFF", 2.0, 0, MAX_BACKOFF)
        return cls(url, secret, int(retries), float(backoff), _timeout(env))


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadInput(f"not a number: {raw!r}", key=name) from None
    if not low <= value <= high:
        raise BadInput(f"must be between {low:g} and {high:g}: {raw!r}", key=name)
    return value


def psa_signature(body: bytes, secret: str) -> str:
    """The value of the signature header: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_psa(event: str, body: bytes, delivery: str, psa: PsaSettings) -> Delivery:
    """POST one signed incident event; anything but 2xx is a :class:`NotifyError`."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"mspctl/{__version__}",
        PSA_EVENT_HEADER: event,
        PSA_DELIVERY_HEADER: delivery,
        PSA_SIGNATURE_HEADER: psa_signature(body, psa.secret),
    }
    code = _post(
        psa.url,
        body,
        headers,
        what="PSA hook",
        server=psa.server,
        timeout=psa.timeout,
        secrets=(psa.secret,),
    )
    return Delivery("webhook", psa.server, f"{event}, HTTP {code}")


class PsaHooks:
    """Incident events delivered in the background: :meth:`submit` never blocks (a full queue
    drops the event, logged), one worker thread posts them in order, retrying each failure
    after ``backoff``, doubled each time, up to ``retries`` times. :meth:`stop` ends the worker
    at once, even in a backoff wait; events not delivered by then are logged as dropped."""

    def __init__(self, psa: PsaSettings, *, maxsize: int = 10_000) -> None:
        import logging
        import queue
        import threading

        self.psa = psa
        self.log = logging.getLogger("mspctl.notify")
        self._queue: queue.Queue[tuple[str, bytes, str] | None] = queue.Queue(maxsize)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._work, name="psa-hooks", daemon=True)
        self.delivered: list[Delivery] = []
        self.dropped = 0

    def start(self) -> PsaHooks:
        self._thread.start()
        return self

    def submit(self, event: str, data: dict[str, Any]) -> bool:
        import queue
        import uuid

        body = json.dumps(
            {"kind": PSA_KIND, "version": 1, "event": event, "incident": data},
            sort_keys=True,
        ).encode()
        try:
            self._queue.put_nowait((event, body, str(uuid.uuid4())))
        except queue.Full:
            self.dropped += 1
            self.log.error("PSA hook queue full: %s dropped", event)
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        with self._queue.mutex:  # a stop does not wait for the backlog
            left = len(self._queue.queue)
            self._queue.queue.clear()
            self._queue.unfinished_tasks -= left
        if left:
            self.dropped += left
            self.log.warning("PSA hooks stopped: %d event(s) not delivered", left)
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def join(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted event was delivered or given up (tests, bench)."""
        import time

        end = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < end:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._deliver(*item)
            finally:
                self._queue.task_done()

    def _deliver(self, event: str, body: bytes, delivery: str) -> None:
        delay = self.psa.backoff
        for attempt in range(self.psa.retries + 1):
            if self._stopping.is_set():
                self.dropped += 1
                return
            try:
                self.delivered.append(post_psa(event, body, delivery, self.psa))
                return
            except NotifyError as exc:  # the message names the server only, never the secret
                if attempt == self.psa.retries:
                    self.dropped += 1
                    self.log.error(
                        "%s: %s, given up after %d attempts", event, exc.message, attempt + 1
                    )
                    return
                self.log.warning("%s: %s, retry in %.0f s", event, exc.message, delay)
            if self._stopping.wait(delay):
                self.dropped += 1
                return
            delay = min(delay * 2, MAX_BACKOFF)
