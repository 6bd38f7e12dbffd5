# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the queues of the local CUPS scheduler, for mspctl.policy.cups_queue and printer_status.

The state is read over IPP from the scheduler's local socket (one CUPS-Get-Printers request for
every queue), not parsed from ``lpstat``/``lpoptions`` output: the answer is exact whatever the
locale, and a location or description holding quotes or spaces cannot be misread (``lpoptions``
quotes such values without escaping them). Changes are made with the CUPS tools (``lpadmin``,
``cupsctl``) by the modules. Standard library only: this runs on the managed host's Python.
"""

from __future__ import annotations

import http.client as http_client
import re
import socket
import struct
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ansible.module_utils.basic import AnsibleModule

    # a queue's IPP attributes: {name: [values]}
    Attributes = Mapping[str, list[Any]]
    # one queue, observed (queue_from_attributes) or from the inventory (normalize_queues)
    Queue = dict[str, Any]

SOCKET_PATH = "/run/cups/cups.sock"
# the CUPS tools run in the C locale
ENV = {"LC_ALL": "C", "LANG": "C"}

# what CUPS reports as the make and model of a queue without a driver (raw queue)
RAW_MAKE_AND_MODEL = "Local Raw Printer"
# `lpadmin -m everywhere` names the PPD it generates "<printer model> - IPP Everywhere"
EVERYWHERE_SUFFIX = " - IPP Everywhere"
RAW = "raw"
EVERYWHERE = "everywhere"

# printer-type bits (cups/cups.h)
PRINTER_DEFAULT = 0x20000
# printer-state enum
STATE_STOPPED = 5

ERROR_POLICIES = ("abort-job", "retry-current-job", "retry-job", "stop-printer")

# CUPS queue names (lpadmin's validate_name): 1-127 printable characters, none of space, '/',
# '\', '?', "'", '"', '#' or '@'; ',' is refused too, as `lpstat` lists names comma-separated.
# The scheduler compares names case-insensitively.
NAME_RE = re.compile(r"^[^\s/\\?'\"#@,\x00-\x1f\x7f]{1,127}$")

OP_CUPS_GET_PRINTERS = 0x4002
STATUS_NOT_FOUND = 0x0406  # client-error-not-found: the scheduler has no queue at all

REQUESTED = (
    "printer-name",
    "device-uri",
    "printer-info",
    "printer-location",
    "printer-make-and-model",
    "printer-state",
    "printer-is-accepting-jobs",
    "printer-is-shared",
    "printer-is-temporary",
    "printer-type",
    "printer-error-policy",
)


class CupsUnavailable(Exception):
    """The scheduler cannot be reached (not installed, not started)."""


# -- IPP encoding (RFC 8010), only what CUPS-Get-Printers needs --------------------------------
def _attribute(tag: int, name: str, value: str) -> bytes:
    name_b = name.encode("utf-8")
    value_b = value.encode("utf-8")
    return struct.pack(">BH", tag, len(name_b)) + name_b + struct.pack(">H", len(value_b)) + value_b


def encode_request(operation: int, requested: Iterable[str], request_id: int = 1) -> bytes:
    """An IPP/2.0 request with the standard operation attributes and requested-attributes."""
    body = struct.pack(">BBHI", 2, 0, operation, request_id) + b"\x01"
    body += _attribute(0x47, "attributes-charset", "utf-8")
    body += _attribute(0x48, "attributes-natural-language", "en")
    for index, name in enumerate(requested):
        body += _attribute(0x44, "requested-attributes" if index == 0 else "", name)
    return body + b"\x03"


def _value(tag: int, raw: bytes) -> Any:
    if tag in (0x21, 0x23):  # integer, enum
        return struct.unpack(">i", raw)[0] if len(raw) == 4 else None
    if tag == 0x22:  # boolean
        return raw != b"\x00"
    if tag in (0x35, 0x36):  # textWithLanguage, nameWithLanguage
        lang_len = struct.unpack(">H", raw[:2])[0]
        start = 2 + lang_len + 2
        return raw[start:].decode("utf-8", "replace")
    if 0x10 <= tag <= 0x1F:  # out-of-band: unknown, no-value...
        return None
    if 0x40 <= tag <= 0x4F:  # character-string types
        return raw.decode("utf-8", "replace")
    return raw  # octetString, dateTime, resolution, range...: not interpreted


def decode_response(data: bytes) -> tuple[int, list[tuple[int, dict[str, list[Any]]]]]:
    """(status-code, [(group-tag, {name: [values]})]) of an IPP response."""
    if len(data) < 8:
        raise ValueError(f"short IPP response ({len(data)} bytes)")
    status = struct.unpack(">H", data[2:4])[0]
    groups: list[tuple[int, dict[str, list[Any]]]] = []
    current: dict[str, list[Any]] | None = None
    last: str | None = None
    pos = 8
    while pos < len(data):
        tag = data[pos]
        pos += 1
        if tag == 0x03:  # end-of-attributes
            break
        if tag < 0x10:  # a new attribute group
            current = {}
            groups.append((tag, current))
            last = None
            continue
        name_len = struct.unpack(">H", data[pos : pos + 2])[0]
        name = data[pos + 2 : pos + 2 + name_len].decode("utf-8", "replace")
        pos += 2 + name_len
        value_len = struct.unpack(">H", data[pos : pos + 2])[0]
        raw = data[pos + 2 : pos + 2 + value_len]
        pos += 2 + value_len
        if current is None:
            raise ValueError("IPP attribute outside a group")
        value = _value(tag, raw)
        if name:
            current[name] = [value]
            last = name
        elif last is not None:  # an additional value of the previous attribute
            current[last].append(value)
    return status, groups


# -- transport ----------------------------------------------------------------------------------
class _UnixHTTPConnection(http_client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        http_client.HTTPConnection.__init__(self, "localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def ipp_request(body: bytes, socket_path: str = SOCKET_PATH, timeout: float = 30) -> bytes:
    """POST an IPP request to the local scheduler; the raw response body."""
    connection = _UnixHTTPConnection(socket_path, timeout)
    try:
        connection.request("POST", "/", body, {"Content-Type": "application/ipp"})
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise CupsUnavailable(f"CUPS answered HTTP {response.status} {response.reason}")
        return data
    except (OSError, http_client.HTTPException) as exc:
        raise CupsUnavailable(f"cannot reach the CUPS scheduler at {socket_path}: {exc}") from exc
    finally:
        connection.close()


# -- the queues ---------------------------------------------------------------------------------
def _first(attrs: Attributes, name: str, default: Any = None) -> Any:
    values = attrs.get(name)
    return values[0] if values else default


def queue_from_attributes(attrs: Attributes) -> Queue:
    """One queue's state, in the terms the modules compare."""
    printer_type = _first(attrs, "printer-type", 0) or 0
    return {
        "uri": _first(attrs, "device-uri"),
        "make_and_model": _first(attrs, "printer-make-and-model") or "",
        "description": _first(attrs, "printer-info") or "",
        "location": _first(attrs, "printer-location") or "",
        "enabled": _first(attrs, "printer-state") != STATE_STOPPED,
        "accepting": bool(_first(attrs, "printer-is-accepting-jobs", False)),
        "shared": bool(_first(attrs, "printer-is-shared", False)),
        "temporary": bool(_first(attrs, "printer-is-temporary", False)),
        "default": bool(printer_type & PRINTER_DEFAULT),
        "error_policy": _first(attrs, "printer-error-policy"),
    }


def parse_printers(data: bytes) -> dict[str, Queue]:
    """{name: queue} from a CUPS-Get-Printers response body."""
    status, groups = decode_response(data)
    if status == STATUS_NOT_FOUND:
        return {}
    if status > 0x00FF:
        raise CupsUnavailable(f"CUPS-Get-Printers failed with IPP status 0x{status:04x}")
    queues: dict[str, Queue] = {}
    for tag, attrs in groups:
        name = _first(attrs, "printer-name")
        if tag == 0x04 and name:
            queues[name] = queue_from_attributes(attrs)
    return queues


def read_queues(socket_path: str = SOCKET_PATH) -> dict[str, Queue]:
    """Every queue of the local scheduler; CupsUnavailable when it cannot be reached."""
    return parse_printers(ipp_request(encode_request(OP_CUPS_GET_PRINTERS, REQUESTED), socket_path))


def default_of(queues: Mapping[str, Queue]) -> str | None:
    for name, queue in sorted(queues.items()):
        if queue["default"]:
            return name
    return None


# -- comparing with the inventory ---------------------------------------------------------------
@overload
def sanitize_uri(uri: str) -> str: ...


@overload
def sanitize_uri(uri: None) -> None: ...


def sanitize_uri(uri: str | None) -> str | None:
    """The device URI as CUPS reports it: without user name and password."""
    if not uri or "@" not in uri:
        return uri
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def default_driver(uri: str | None) -> str:
    """IPP Everywhere for ipp/ipps URIs, a raw queue otherwise."""
    scheme = (uri or "").split(":", 1)[0].lower()
    return EVERYWHERE if scheme in ("ipp", "ipps") else RAW


def model_scheme(model: str) -> str:
    """The cups-driverd scheme of a model name: lpinfo --include-schemes narrows the listing."""
    return model.split(":", 1)[0] if ":" in model else "file"


def parse_models(output: str) -> dict[str, str]:
    """{ppd-name: make-and-model} from `lpinfo -m`."""
    models: dict[str, str] = {}
    for line in output.splitlines():
        name, _sep, description = line.strip().partition(" ")
        if name:
            models[name] = description.strip()
    return models


def observed_driver(
    make_and_model: str | None,
    wanted: str | None = None,
    models: Mapping[str, str] | None = None,
) -> str:
    """The driver a queue runs, named as the inventory names it when that can be told.

    ``raw`` and ``everywhere`` are recognised from the make and model CUPS reports; a PPD model
    is recognised when its `lpinfo -m` description equals it. Otherwise the make and model.
    """
    if not make_and_model or make_and_model == RAW_MAKE_AND_MODEL:
        return RAW
    if make_and_model.endswith(EVERYWHERE_SUFFIX):
        return EVERYWHERE
    if wanted and models and models.get(wanted) == make_and_model:
        return wanted
    return make_and_model


def parse_cupsctl(output: str) -> dict[str, str]:
    """{setting: value} from `cupsctl` without arguments."""
    settings: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            settings[key.strip()] = value.strip()
    return settings


def read_sharing(module: AnsibleModule) -> bool:
    """Whether the scheduler publishes shared queues (`cupsctl`'s _share_printers)."""
    cupsctl = module.get_bin_path("cupsctl")
    if cupsctl is None:
        raise CupsUnavailable("cupsctl not found: is CUPS (cups-client) installed?")
    rc, out, err = module.run_command([cupsctl], environ_update=ENV)
    if rc != 0:
        raise CupsUnavailable(f"cupsctl: {(err or out).strip()}")
    return bool(parse_cupsctl(out).get("_share_printers") == "1")


# -- the inventory's queues ---------------------------------------------------------------------
def _present_queue_problem(queue: Queue) -> str | None:
    """What is wrong with a present queue of the list, or None; sets its driver and shared."""
    if not queue.get("uri"):
        return "a present queue needs a device uri"
    queue["driver"] = queue.get("driver") or default_driver(queue["uri"])
    scheme = queue["uri"].split(":", 1)[0].lower()
    if queue["driver"] == EVERYWHERE and scheme not in ("ipp", "ipps"):
        return (
            f"driver 'everywhere' needs an ipp:// or ipps:// uri, got "
            f"{sanitize_uri(queue['uri'])} (use 'raw' or a PPD model for {scheme}://)"
        )
    if queue.get("error_policy") and queue["error_policy"] not in ERROR_POLICIES:
        return f"error_policy must be one of {', '.join(ERROR_POLICIES)}"
    queue["shared"] = bool(queue.get("shared"))
    return None


def normalize_queues(
    queues: Iterable[Mapping[str, Any]] | None, default: str | None = None
) -> tuple[list[Queue], str | None, list[str]]:
    """Validate the inventory's queue list; ([queue], default name or None, [errors]).

    Each queue gets its driver (``default_driver`` when not given); ``default`` names the
    default queue, else the one queue flagged ``default: true``.
    """
    errors: list[str] = []
    result: list[Queue] = []
    seen: dict[str, str] = {}
    flagged: list[str] = []
    for index, item in enumerate(queues or []):
        queue = dict(item)
        name = queue.get("name") or ""
        where = "queues[{}] ({})".format(index, name or "no name")
        if not NAME_RE.match(name):
            errors.append(
                f"{where}: invalid queue name {name!r}: 1-127 printable characters, "
                "no space or any of / \\ ? ' \" # @ ,"
            )
            continue
        if name.lower() in seen:
            errors.append(
                f"{where}: queue listed twice (CUPS names ignore case: {seen[name.lower()]})"
            )
            continue
        seen[name.lower()] = name
        state = queue.get("state") or "present"
        queue["state"] = state
        problem = _present_queue_problem(queue) if state == "present" else None
        if problem:
            errors.append(f"{where}: {problem}")
            continue
        if queue.get("default"):
            if state != "present":
                errors.append(f"{where}: an absent queue cannot be the default")
                continue
            flagged.append(name)
        result.append(queue)
    if len(flagged) > 1:
        errors.append("more than one queue is flagged default: {}".format(", ".join(flagged)))
    chosen = default or (flagged[0] if flagged else None)
    if chosen:
        present = {q["name"].lower(): q["name"] for q in result if q["state"] == "present"}
        if chosen.lower() not in present:
            errors.append(f"default queue {chosen!r} is not a present queue of the list")
        else:
            chosen = present[chosen.lower()]
    return result, chosen, errors


def find(queues: Mapping[str, Any], name: str) -> str | None:
    """The name of the existing queue ``name`` designates (CUPS ignores case), or None."""
    if name in queues:
        return name
    lowered = name.lower()
    for existing in sorted(queues):
        if existing.lower() == lowered:
            return existing
    return None


def enabled_text(queue: Mapping[str, Any]) -> str:

    enabled = "enabled" if queue["enabled"] else "disabled"
    accepting = "accepting jobs" if queue["accepting"] else "rejecting jobs"
    return f"{enabled}, {accepting}"
