"""The bad-input half of issue 9, unit by unit: the YAML loader, error text, XML and terminals."""

from __future__ import annotations

import io
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mspctl.errors import BadInput
from mspctl.yamlio import inventory_names, load_yaml, shorten, top_level


def _load(tmp_path: Path, text: str | bytes, **kwargs):
    path = tmp_path / "f.yml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return load_yaml(path, display="f.yml", **kwargs)


def _error(tmp_path: Path, text: str | bytes, **kwargs) -> str:
    with pytest.raises(BadInput) as caught:
        _load(tmp_path, text, **kwargs)
    message = caught.value.message
    assert "\n" not in message and message.startswith("f.yml: ")
    return message


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("a: 1\nb:\n  c: 2\n  c: 3\n", ["b.c: line 4: duplicate key 'c' (first on line 3)"]),
        ("x: 2026-02-30\n", ["x: line 1: invalid date '2026-02-30'"]),
        ("x: 2026-13-01\n", ["x: line 1: invalid date"]),
        ("a: &r [1, *r]\n", ["a[1]", "recursive alias"]),
        ("a: &r {b: *r}\n", ["a.b", "recursive alias"]),
        ("1: x\n", ["line 1: a name must be a string, got '1' (int"]),
        ("? [a]\n: x\n", ["a key must be a name"]),
        ("a: [\n", ["invalid YAML"]),
        ("a: !!python/object:os.system x\n", ["invalid YAML"]),
        ("a: 1\n---\nb: 2\n", ["invalid YAML"]),
        ("a: " + "[" * 100 + "]" * 100 + "\n", ["nested more than 64 levels"]),
        (b"a: caf\xe9\n", ["not UTF-8 text (byte 0xe9 on line 1)"]),
        ("a: \x1b[31m\n", ["invalid YAML (unacceptable character #x001b"]),
    ],
)
def test_refused(tmp_path, text, fragments):
    message = _error(tmp_path, text)
    for fragment in fragments:
        assert fragment in message, message


def test_alias_bomb_is_refused_before_it_expands(tmp_path):
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    started = time.monotonic()
    assert "aliases expand" in _error(tmp_path, "\n".join(lines))
    assert time.monotonic() - started < 1


def test_huge_file_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr("mspctl.yamlio.MAX_FILE_BYTES", 1000)
    assert "larger than" in _error(tmp_path, "a: " + "x" * 2000)


def test_merge_keys_and_shared_aliases_stay_valid(tmp_path):
    text = "base: &b {x: 1, y: [1, 2]}\nother:\n  <<: *b\n  x: 2\nagain: *b\n"
    assert _load(tmp_path, text) == {
        "base": {"x": 1, "y": [1, 2]},
        "other": {"x": 2, "y": [1, 2]},
        "again": {"x": 1, "y": [1, 2]},
    }


def test_names_are_checked_only_where_names_are_expected(tmp_path):
    variables = "ports:\n  80: http\n443: https\n"
    assert "443" in _error(tmp_path, variables, names=top_level)
    assert _load(tmp_path, "ports:\n  80: http\n", names=top_level) == {"ports": {80: "http"}}
    inventory = (
        "all:\n  hosts:\n    web:\n      ports: {80: http}\n  children:\n    s:\n"
        "      hosts:\n        10: {}\n"
    )
    assert "all.children.s.hosts.10" in _error(tmp_path, inventory, names=inventory_names)


def test_ansible_tags_read_as_text(tmp_path):
    text = "secret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3030\nraw: !unsafe '{{ x }}'\n"
    assert _load(tmp_path, text, names=top_level)["raw"] == "{{ x }}"


def test_shorten():
    assert shorten("x" * 5_000_000) == "'" + "x" * 78 + "…"
    assert len(shorten("x" * 5_000_000)) == 80
    assert shorten("a\x1bb") == "'a\\x1bb'"
    assert shorten([1, 2]) == "[1, 2]"


def test_sanitize_and_markup_never_raises():
    from mspctl.display import make_console, sanitize

    assert sanitize("a\x1b[31mb\x00\x07\tc\n") == "a\\x1b[31mb\\x00\\x07\tc\n"
    console = make_console(stderr=False, no_color=True)
    console.file = io.StringIO()
    console.print("[bold]fine[/bold]")
    console.print("bad [/] markup, printed as is \x1b[2J")
    assert console.file.getvalue() == "fine\nbad [/] markup, printed as is \\x1b[2J\n"


def test_junit_stays_valid_xml_with_control_characters():
    from mspctl.reports.junit import render_junit

    evil = "red\x1b[31m nul\x00 bell\x07 del\x7f ok\tand\n"
    control = {
        "host": "h\x00",
        "control_id": "c.x",
        "title": evil,
        "policy": "p",
        "status": "fail",
        "expected": evil,
        "actual": evil,
        "evidence": {"e": evil},
    }
    data = {
        "client": {"id": "demo"},
        "run": {"started_at": "2026-11-30T00:00:00+00:00"},
        "controls": [control, {**control, "status": "error"}],
    }
    root = ET.fromstring(render_junit(data).encode())
    case = root.find("testsuite/testcase")
    assert case is not None and "red\\x1b[31m nul\\x00" in case.get("name", "")


def test_report_output_is_whole_or_absent(tmp_path):
    from mspctl.reports import write_output as _write

    target = tmp_path / "r.md"
    _write(target, "report\n")
    assert target.read_text() == "report\n"
    for bad, message in (
        (tmp_path / "missing" / "r.md", "directory not found"),
        (tmp_path, "is a directory"),
        (Path("/proc/version"), "cannot write"),
    ):
        with pytest.raises(BadInput, match=message) as caught:
            _write(bad, "x")
        assert str(bad) in caught.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.md"]
