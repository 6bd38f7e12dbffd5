"""The endpoint Alertmanager posts to (``mspctl incidents serve``).

The standard library's ``ThreadingHTTPServer``: one POST route, JSON in, a status code out,
behind a loopback address (or the MSP's own reverse proxy). A framework would add a dependency
and an ASGI server to run for no feature this needs; Alertmanager itself retries what is not 2xx.

- ``POST /alerts``: a webhook payload (version 4). It is parsed whole before anything is
  written: a malformed body is HTTP 400 and records nothing. A store that cannot be written is
  HTTP 503, so Alertmanager retries. Writes are serialised in the process (one lock): SQLite has
  one writer anyway, and a repeat racing its own first notification stays a repeat.
- ``GET /healthz``: 200 while serving.

Every recorded event goes to the PSA hook's queue (a background thread), never delaying the
answer to Alertmanager.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from mspctl.errors import MspctlError
from mspctl.incidents.service import Event, PayloadError, ingest, parse_payload

if TYPE_CHECKING:
    from mspctl.incidents.sla import Clocks
    from mspctl.store import Store

log = logging.getLogger("mspctl.incidents")
MAX_BODY = 16 * 1024 * 1024  # Alertmanager's largest groups stay far below
PATH = "/alerts"


class IncidentReceiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        store: Store,
        clocks: Clocks,
        *,
        on_events: Callable[[list[Event]], None] | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        super().__init__(address, _Handler)
        self.store = store
        self.clocks = clocks
        self.on_events = on_events
        self.now = now
        self.write_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), self.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}{PATH}"

    def start(self) -> None:
        """Serve in a background thread (tests, the benchmark); ``stop`` ends it."""
        self._thread = threading.Thread(target=self.serve_forever, name="incidents", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def receive(self, body: bytes) -> tuple[HTTPStatus, dict[str, Any]]:
        try:
            alerts = parse_payload(json.loads(body))
        except (ValueError, RecursionError) as exc:  # PayloadError and JSON errors
            reason = str(exc) if isinstance(exc, PayloadError) else "the body is not JSON"
            return HTTPStatus.BAD_REQUEST, {"error": reason}
        try:
            with self.write_lock:
                events = ingest(self.store, self.clocks, alerts, self.now())
        except MspctlError as exc:
            log.error("cannot record %d alert(s): %s", len(alerts), exc.message)
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": "the incident store is unavailable"}
        except Exception:  # a bug: logged with its traceback; Alertmanager retries the post
            log.exception("cannot record %d alert(s)", len(alerts))
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"}
        if self.on_events is not None and events:
            self.on_events(events)
        counts: dict[str, int] = {}
        for event in events:
            counts[event.action] = counts.get(event.action, 0) + 1
        return HTTPStatus.OK, {"recorded": counts}


class _Handler(BaseHTTPRequestHandler):
    server: IncidentReceiver
    protocol_version = "HTTP/1.1"  # keep-alive: Alertmanager reuses its connection

    def do_POST(self) -> None:
        if self.path.split("?")[0] != PATH:
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"POST alerts to {PATH}"})
            return
        raw_length = self.headers.get("Content-Length")
        if raw_length is None or not raw_length.isdigit():
            self._answer(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required"})
            return
        length = int(raw_length)
        if length > MAX_BODY:
            self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
            self.close_connection = True
            return
        status, answer = self.server.receive(self.rfile.read(length))
        self._answer(status, answer)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._answer(HTTPStatus.OK, {"status": "ok"})
        else:
            self._answer(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def _answer(self, status: HTTPStatus, data: dict[str, Any]) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)
