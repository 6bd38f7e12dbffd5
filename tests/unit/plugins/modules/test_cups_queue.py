"""mspctl_cups_queue: plan (pure) and the module run against a scheduler in memory.

Each case: a change, check+diff that writes nothing, and an idempotent second run. The real
module on real CUPS runs in the printers molecule scenario (molecule/printers/verify.yml).
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_cups as cups
from ansible_collections.mspctl.policy.plugins.modules import cups_queue as mod
from ansible_collections.mspctl.policy.tests.unit.plugins.modules.cups_fake import (
    MODELS,
    FakeCups,
    queue,
    run_module,
)

SINK = "socket://10.0.0.1:9101"


def args(queues: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return dict(queues=queues, **kw)


# -- data-driven cases: (start state, module args, commands expected) ---------------------------
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], list[list[str]]]] = {
    "new raw queue, default": (
        {},
        args(
            [
                {
                    "name": "lab-raw",
                    "uri": SINK,
                    "driver": "raw",
                    "default": True,
                    "location": "Lab",
                    "description": "Lab printer",
                }
            ]
        ),
        [
            [
                "lpadmin",
                "-p",
                "lab-raw",
                "-E",
                "-v",
                SINK,
                "-m",
                "raw",
                "-D",
                "Lab printer",
                "-L",
                "Lab",
                "-o",
                "printer-is-shared=false",
            ],
            ["lpadmin", "-d", "lab-raw"],
        ],
    ),
    "new PPD queue": (
        {},
        args([{"name": "ps", "uri": SINK, "driver": "drv:///sample.drv/generic.ppd"}]),
        [
            [
                "lpadmin",
                "-p",
                "ps",
                "-E",
                "-v",
                SINK,
                "-m",
                "drv:///sample.drv/generic.ppd",
                "-o",
                "printer-is-shared=false",
            ]
        ],
    ),
    "ipp uri defaults to everywhere": (
        {},
        args([{"name": "office", "uri": "ipp://10.0.0.2/ipp/print"}]),
        [
            [
                "lpadmin",
                "-p",
                "office",
                "-E",
                "-v",
                "ipp://10.0.0.2/ipp/print",
                "-m",
                "everywhere",
                "-o",
                "printer-is-shared=false",
            ]
        ],
    ),
    "moved printer: only the uri": (
        {"lab": queue("socket://10.0.0.9:9100")},
        args([{"name": "lab", "uri": SINK}]),
        [["lpadmin", "-p", "lab", "-v", SINK]],
    ),
    "driver change resends the uri": (
        {"lab": queue(SINK)},
        args([{"name": "lab", "uri": SINK, "driver": "drv:///sample.drv/generpcl.ppd"}]),
        [["lpadmin", "-p", "lab", "-v", SINK, "-m", "drv:///sample.drv/generpcl.ppd"]],
    ),
    "disabled and rejecting: enabled again": (
        {"lab": queue(SINK, enabled=False, accepting=False)},
        args([{"name": "lab", "uri": SINK}]),
        [["lpadmin", "-p", "lab", "-E"]],
    ),
    "shared by hand, location and policy": (
        {"lab": queue(SINK, shared=True, location="old")},
        args([{"name": "lab", "uri": SINK, "location": "new", "error_policy": "abort-job"}]),
        [
            [
                "lpadmin",
                "-p",
                "lab",
                "-L",
                "new",
                "-o",
                "printer-is-shared=false",
                "-o",
                "printer-error-policy=abort-job",
            ]
        ],
    ),
    "case-insensitive names keep the existing one": (
        {"Lab": queue(SINK)},
        args([{"name": "lab", "uri": SINK, "location": "x"}]),
        [["lpadmin", "-p", "Lab", "-L", "x"]],
    ),
    "state absent removes": (
        {"old": queue(SINK), "keep": queue(SINK)},
        args([{"name": "old", "state": "absent"}]),
        [["lpadmin", "-x", "old"]],
    ),
    "unlisted kept without remove_unlisted": (
        {"hand-made": queue(SINK)},
        args([{"name": "lab", "uri": SINK}]),
        [["lpadmin", "-p", "lab", "-E", "-v", SINK, "-m", "raw", "-o", "printer-is-shared=false"]],
    ),
    "unlisted removed with remove_unlisted, temporary kept": (
        {
            "hand-made": queue(SINK),
            "lab": queue(SINK),
            "HP_Discovered": queue("ipp://10.0.0.3/ipp/print", temporary=True),
        },
        args([{"name": "lab", "uri": SINK}], remove_unlisted=True),
        [["lpadmin", "-x", "hand-made"]],
    ),
    "default by name wins over nothing": (
        {"a": queue(SINK, default=True), "b": queue(SINK)},
        args([{"name": "a", "uri": SINK}, {"name": "b", "uri": SINK}], default="B"),
        [["lpadmin", "-d", "b"]],
    ),
    "sharing turned off": (
        {},
        args([], sharing=False),
        [],
    ),
    "sharing turned on": (
        {},
        args([], sharing=True),
        [["cupsctl", "--share-printers"]],
    ),
    "credentials never shown, compared without them": (
        {"smb": queue("smb://server/queue")},
        args([{"name": "smb", "uri": "smb://alice:secret@server/queue"}]),
        [],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_change_check_idempotent(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    start, module_args, expected = CASES[name]
    fake = FakeCups(start)
    changed = bool(expected)

    checked = run_module(mod, fake, monkeypatch, module_args, check=True)
    assert not checked.get("failed"), checked
    assert checked["changed"] is changed
    assert checked["commands"] == [mod.display(c) for c in expected]
    assert fake.writes() == [], "check mode wrote"
    assert fake.queues == FakeCups(start).queues
    if changed:
        assert checked["diff"]["before"] != checked["diff"]["after"]

    applied = run_module(mod, fake, monkeypatch, module_args)
    assert not applied.get("failed"), applied
    assert applied["changed"] is changed
    assert fake.writes() == expected
    # the check run announced exactly what the real run did
    assert {k: applied[k] for k in ("queues", "default", "commands")} == {
        k: checked[k] for k in ("queues", "default", "commands")
    }

    fake.calls.clear()
    again = run_module(mod, fake, monkeypatch, module_args)
    assert again["changed"] is False, again
    assert again["commands"] == []
    assert fake.writes() == []


def test_password_never_in_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCups()
    module_args = args([{"name": "smb", "uri": "smb://alice:secret@server/queue"}])
    result = run_module(mod, fake, monkeypatch, module_args, check=True)
    shown = {k: v for k, v in result.items() if k != "invocation"}
    assert "secret" not in str(shown)
    run_module(mod, fake, monkeypatch, module_args)
    assert fake.writes()[0][5] == "smb://alice:secret@server/queue"  # CUPS gets it whole


def test_diff_is_the_before_after_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCups(
        {"lab": queue("socket://10.0.0.9:9100", location="Lab"), "old": queue(SINK, default=True)}
    )
    result = run_module(
        mod,
        fake,
        monkeypatch,
        args(
            [
                {"name": "lab", "uri": SINK, "location": "Lab", "default": True},
                {"name": "old", "state": "absent"},
            ],
            sharing=False,
        ),
        check=True,
    )
    assert result["diff"] == {
        "before": {
            "queue lab": {
                "uri": "socket://10.0.0.9:9100",
                "driver": "raw",
                "shared": False,
                "enabled": True,
                "location": "Lab",
            },
            "queue old": {
                "uri": SINK,
                "driver": "raw",
                "description": "",
                "location": "",
                "shared": False,
                "enabled": True,
            },
            "default": "old",
            "sharing": False,
        },
        "after": {
            "queue lab": {
                "uri": SINK,
                "driver": "raw",
                "shared": False,
                "enabled": True,
                "location": "Lab",
            },
            "default": "lab",
            "sharing": False,
        },
        "before_header": "cups",
        "after_header": "cups",
    }


def test_no_diff_without_diff_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_module(
        mod, FakeCups(), monkeypatch, args([{"name": "lab", "uri": SINK}]), check=True, diff=False
    )
    assert result["changed"] is True
    assert "diff" not in result


@pytest.mark.parametrize("installed", [False, True])
def test_check_mode_without_cups_plans_everything(
    installed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeCups(running=False, installed=installed)
    result = run_module(
        mod,
        fake,
        monkeypatch,
        args(
            [{"name": "ps", "uri": SINK, "driver": "drv:///sample.drv/generic.ppd"}], sharing=False
        ),
        check=True,
    )
    assert result["changed"] is True
    # no CUPS shares nothing, as a fresh CUPS does not: no cupsctl to plan
    assert [c[:3] for c in result["commands"]] == [["lpadmin", "-p", "ps"]]


@pytest.mark.parametrize("check", [False, True])
def test_a_host_without_queues_needs_no_cups(check: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCups(running=False, installed=False)
    result = run_module(
        mod,
        fake,
        monkeypatch,
        args([{"name": "old", "state": "absent"}], remove_unlisted=True, sharing=False),
        check=check,
    )
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["queues"] == {}
    assert result["sharing"] is False


def test_without_cups_a_real_run_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_module(
        mod, FakeCups(running=False), monkeypatch, args([{"name": "lab", "uri": SINK}])
    )
    assert result["failed"] is True
    assert "cannot reach the CUPS scheduler" in result["msg"]


def test_refused_queue_fails_after_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCups()
    fake.refuse = {"office"}
    result = run_module(
        mod,
        fake,
        monkeypatch,
        args([{"name": "office", "uri": "ipp://10.0.0.2/ipp/print"}, {"name": "lab", "uri": SINK}]),
    )
    assert result["failed"] is True
    assert "office" in result["msg"] and "Unable to connect" in result["msg"]
    assert "lab" in fake.queues


@pytest.mark.parametrize(
    ("queues", "default", "message"),
    [
        ([{"name": "a b", "uri": SINK}], None, "invalid queue name"),
        ([{"name": "a", "uri": SINK}, {"name": "A", "uri": SINK}], None, "listed twice"),
        ([{"name": "a"}], None, "needs a device uri"),
        ([{"name": "a", "uri": SINK, "driver": "everywhere"}], None, "needs an ipp://"),
        (
            [
                {"name": "a", "uri": SINK, "default": True},
                {"name": "b", "uri": SINK, "default": True},
            ],
            None,
            "more than one queue",
        ),
        ([{"name": "a", "uri": SINK}], "b", "not a present queue"),
        ([{"name": "a", "state": "absent", "default": True}], None, "absent queue cannot"),
        ([{"name": "a", "uri": SINK, "driver": "drv:///nope.drv/x.ppd"}], None, "not a model"),
    ],
)
def test_bad_input_fails_before_any_change(
    queues: list[dict[str, Any]], default: str | None, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeCups()
    module_args = args(queues, **({"default": default} if default else {}))
    result = run_module(mod, fake, monkeypatch, module_args)
    assert result["failed"] is True
    assert message in result["msg"], result["msg"]
    assert fake.writes() == []


def test_waits_for_the_everywhere_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCups()
    fake.everywhere_delay = 5
    module_args = args([{"name": "office", "uri": "ipp://10.0.0.2/ipp/print"}])
    result = run_module(mod, fake, monkeypatch, module_args)
    assert not result.get("failed"), result
    assert fake.queues["office"]["make_and_model"] == "Printer - IPP Everywhere"
    assert run_module(mod, fake, monkeypatch, module_args)["changed"] is False


def test_everywhere_printer_not_answering_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCups()
    fake.everywhere_delay = None
    monkeypatch.setattr(mod, "SETTLE_SECONDS", 0)
    module_args = args([{"name": "office", "uri": "ipp://10.0.0.2/ipp/print"}])
    result = run_module(mod, fake, monkeypatch, module_args)
    assert result["failed"] is True
    assert "IPP Everywhere queue needs its printer to answer" in result["msg"]
    assert result["actual"]["queues"]["office"]["driver"] == "raw"
    # the next run tries again
    again = run_module(mod, fake, monkeypatch, module_args, check=True)
    assert again["commands"] == [
        ["lpadmin", "-p", "office", "-v", "ipp://10.0.0.2/ipp/print", "-m", "everywhere"]
    ]


def test_cups_not_taking_a_change_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCups({"lab": queue(SINK, location="old")})
    real = fake.run_command

    def ignore_location(argv: list[str], **kw: Any) -> tuple[int, str, str]:
        if argv[:1] == ["lpadmin"] and "-L" in argv:
            fake.calls.append(list(argv))
            return 0, "", ""
        return real(argv, **kw)

    monkeypatch.setattr(fake, "run_command", ignore_location)
    monkeypatch.setattr(mod, "SETTLE_SECONDS", 0)
    result = run_module(
        mod, fake, monkeypatch, args([{"name": "lab", "uri": SINK, "location": "new"}])
    )
    assert result["failed"] is True
    assert result["msg"].startswith("CUPS did not take every change")
    assert result["actual"]["queues"]["lab"]["location"] == "old"


# -- the reading side ---------------------------------------------------------------------------
def _attr(tag: int, name: str, value: bytes) -> bytes:
    encoded = name.encode()
    return struct.pack(">BH", tag, len(encoded)) + encoded + struct.pack(">H", len(value)) + value


def test_ipp_response_decodes_to_queues() -> None:
    def text(name: str, value: str, tag: int = 0x41) -> bytes:
        return _attr(tag, name, value.encode())

    body = struct.pack(">BBHI", 2, 0, 0, 1) + b"\x01" + text("attributes-charset", "utf-8", 0x47)
    body += b"\x04" + text("printer-name", "lab", 0x42) + text("device-uri", SINK, 0x45)
    body += text("printer-info", 'O\'Brien "hall" \\ x') + _attr(
        0x23, "printer-state", struct.pack(">i", 5)
    )
    body += _attr(0x22, "printer-is-accepting-jobs", b"\x01")
    body += _attr(0x22, "printer-is-shared", b"\x00")
    body += _attr(0x21, "printer-type", struct.pack(">i", 0x20000 | 4))
    body += text("printer-make-and-model", "Local Raw Printer")
    body += _attr(0x44, "printer-state-reasons", b"paused") + _attr(0x44, "", b"other")
    body += b"\x04" + text("printer-name", "evq", 0x42)
    body += text("printer-make-and-model", "Printer - IPP Everywhere")
    body += b"\x03"
    queues = cups.parse_printers(body)
    assert queues["lab"]["description"] == 'O\'Brien "hall" \\ x'
    assert queues["lab"]["enabled"] is False
    assert queues["lab"]["accepting"] is True
    assert queues["lab"]["default"] is True
    assert cups.observed_driver(queues["evq"]["make_and_model"]) == "everywhere"
    assert cups.decode_response(body)[1][1][1]["printer-state-reasons"] == ["paused", "other"]


def test_no_queue_at_all_is_empty() -> None:
    assert cups.parse_printers(struct.pack(">BBHI", 2, 0, 0x0406, 1) + b"\x01\x03") == {}


def test_request_asks_for_the_attributes() -> None:
    body = cups.encode_request(cups.OP_CUPS_GET_PRINTERS, cups.REQUESTED)
    assert body[:4] == b"\x02\x00\x40\x02"
    assert b"requested-attributes" in body and body.endswith(b"\x03")
    assert body.count(b"printer-make-and-model") == 1


@pytest.mark.parametrize(
    ("make_and_model", "wanted", "seen"),
    [
        ("Local Raw Printer", None, "raw"),
        ("", None, "raw"),
        ("HP LaserJet M404 - IPP Everywhere", None, "everywhere"),
        (
            "Generic PostScript Printer",
            "drv:///sample.drv/generic.ppd",
            "drv:///sample.drv/generic.ppd",
        ),
        (
            "Generic PostScript Printer",
            "drv:///sample.drv/generpcl.ppd",
            "Generic PostScript Printer",
        ),
    ],
)
def test_observed_driver(make_and_model: str, wanted: str | None, seen: str) -> None:
    assert cups.observed_driver(make_and_model, wanted, MODELS) == seen


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("smb://alice:secret@server/queue", "smb://server/queue"),
        ("ipp://bob@10.0.0.2:631/printers/x", "ipp://10.0.0.2:631/printers/x"),
        ("socket://10.0.0.1:9100", "socket://10.0.0.1:9100"),
    ],
)
def test_sanitize_uri(uri: str, shown: str) -> None:
    assert cups.sanitize_uri(uri) == shown


def test_model_scheme() -> None:
    assert cups.model_scheme("drv:///sample.drv/generic.ppd") == "drv"
    assert cups.model_scheme("lsb/usr/cupsfilters/Generic-PDF_Printer-PDF.ppd") == "file"
