"""Property-based fuzzing of every input file through the real CLI.

Each example is a valid project file made invalid *by construction* (a wrong type, an unknown
key, a duplicate key, an invalid date or window, an alias bomb, a recursive alias, bytes that are
not UTF-8, control characters, a huge value, broken syntax, rich markup, a non-string name). The
CLI must answer with exit 3 and exactly one line on stderr naming the file (and the key where
there is one) — no traceback, no "internal error", a bounded line without raw control
characters, and nothing written to the state directory or the project.

Commands only validate (``tiers show``, ``clients show``, ``report`` which reads the waivers
before it opens the store), so an accidentally valid mutation could not run ansible; it would
fail the exit-code assertion instead. Runs are reproducible (``derandomize=True``).
"""

from __future__ import annotations

import os
import re
import string
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.fuzz

COUNTS: dict[str, int] = {}  # documents fuzzed per file type (the terminal summary prints them)
PROCESSES: list[str] = []  # documents also run through `python -m mspctl`
DISTINCT: set[int] = set()  # hashes of the distinct documents among COUNTS
KINDS: dict[str, int] = {}  # documents per kind of mutation
FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
MAX_LINE = 1200

GROUP_VARS = """\
# a group_vars file, valid as written
ntp_servers: [ntp1.example, ntp2.example]
backup_agent_extra_paths:
  - /srv/data
maintenance_contact: ops@example.invalid
purchase_date: 2025-02-10
"""
WAIVERS = """\
waivers:
  - control: assets.warranty_valid
    hosts: [demo-server]
    justification: Replacement server ordered, delivery in January
    approved_by: Jane Doe (account manager)
    expires: 2027-01-31
"""


@dataclass(frozen=True)
class Target:
    """One input file of the project and the validating command that reads it."""

    path: str
    command: tuple[str, ...]


TARGETS = {
    "tier": Target("tiers/silver.yml", ("tiers", "show", "platinum")),  # platinum extends it
    "client": Target("inventories/demo/client.yml", ("clients", "show", "demo")),
    "hosts": Target("inventories/demo/hosts.yml", ("clients", "show", "demo")),
    "group_vars": Target("inventories/demo/group_vars/all.yml", ("clients", "show", "demo")),
    "host_vars": Target("inventories/demo/host_vars/demo-server.yml", ("clients", "show", "demo")),
    "waivers": Target("inventories/demo/waivers.yml", ("report", "demo")),
}


@dataclass(frozen=True)
class Bad:
    """A mutated document: its bytes and what the error line must contain besides the file."""

    kind: str
    data: bytes
    key: str | None = None
    shown: str | None = None  # text that must appear literally (markup)


class Project:
    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.home = home
        self.env = {
            "MSPCTL_PROJECT_DIR": str(root),
            "MSPCTL_HOME": str(home),
            "MSPCTL_DB_URL": "",
            "COLUMNS": "200",
            "MSPCTL_DEBUG": "",
        }
        self.originals = {name: (root / t.path).read_bytes() for name, t in TARGETS.items()}

    def listing(self) -> list[tuple[str, int, int]]:
        out = []
        for base in (self.home, self.root / "inventories", self.root / "tiers"):
            if base.exists():
                out += [
                    (str(p), p.stat().st_size, p.stat().st_mtime_ns)
                    for p in sorted(base.rglob("*"))
                ]
        return out


@pytest.fixture
def fuzzed(project: Path, home: Path) -> Project:
    """The shared fixtures' private project copy, with a group_vars file and a waiver."""
    (project / "inventories/demo/group_vars/all.yml").parent.mkdir(exist_ok=True)
    (project / "inventories/demo/group_vars/all.yml").write_text(GROUP_VARS)
    (project / "inventories/demo/waivers.yml").write_text(WAIVERS)
    return Project(project, home)


@pytest.fixture(scope="module", autouse=True)
def summary(request: pytest.FixtureRequest) -> Iterator[None]:
    """How many documents were fuzzed, per file type, shown after the module's tests."""
    started = time.monotonic()
    yield
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None and (COUNTS or PROCESSES):
        detail = ", ".join(f"{name} {count}" for name, count in COUNTS.items())
        with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
            reporter.write_line(
                f"\nfuzzed {sum(COUNTS.values())} bad documents "
                f"({len(DISTINCT)} distinct) in "
                f"{time.monotonic() - started:.0f} s ({detail}; "
                f"{len(PROCESSES)} more in real processes)"
            )
            reporter.write_line(
                "by mutation: "
                + ", ".join(f"{kind} {count}" for kind, count in sorted(KINDS.items()))
            )


def check(project: Project, target: str, bad: Bad) -> None:
    """Write the document, run the command, restore the file, assert the bad-input contract."""
    from mspctl.cli import mspctl

    spec = TARGETS[target]
    path = project.root / spec.path
    before = project.listing()
    path.write_bytes(bad.data)
    try:
        result = CliRunner().invoke(
            mspctl, list(spec.command), env=project.env, catch_exceptions=False
        )
    finally:
        path.write_bytes(project.originals[target])
    os.utime(path, ns=next((s[2], s[2]) for s in before if s[0] == str(path)))
    COUNTS[target] = COUNTS.get(target, 0) + 1
    DISTINCT.add(hash((target, bad.data)))
    KINDS[bad.kind] = KINDS.get(bad.kind, 0) + 1
    context = (
        f"{target}/{bad.kind}: {bad.data[:300]!r}\nstdout: {result.stdout[:500]}\n"
        f"stderr: {result.stderr[:2000]}"
    )
    assert result.exit_code == 3, context
    lines = [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith("warning:")
    ]
    assert len(lines) == 1, context
    line = lines[0]
    assert "Traceback" not in result.output and "internal error" not in line, context
    assert spec.path in line, context
    if bad.key is not None:
        assert bad.key in line, context
    if bad.shown is not None:
        assert bad.shown in line, context
    assert len(line) <= MAX_LINE, context
    assert not RAW_CONTROL.search(result.output), context
    assert project.listing() == before, context  # nothing written, nothing recorded


# -- building blocks ------------------------------------------------------------------------
NAME_CHARS = string.ascii_lowercase + "_"
names = st.text(NAME_CHARS, min_size=3, max_size=12).map(lambda s: f"zz{s}")
markup = st.sampled_from(["[bold]", "[/]", "[red]x[/red]", "[/bold]", "[link=x]y", "[[b]]"])
control = st.sampled_from(["\\e[31m", "\\0", "\\a", "\\x1b]0;pwned\\x07", "\\b", "\\x9b2J"])
raw_control = st.sampled_from([b"\x1b[31m", b"\x00", b"\x07", b"\x7f", b"\x08", b"\x0c"])
not_utf8 = st.sampled_from(
    [
        b"\xff",
        b"\xfe\xff",
        b"\xc3\x28",
        b"\x80",
        b"\xe2\x82",
        b"\xed\xa0\x80",
        b"\xf8\x88\x80\x80\x80",
    ]
)
broken = st.sampled_from(
    [
        "zz_broken: [unclosed",
        "zz_broken: {a: 1",
        'zz_broken: "unterminated',
        "zz_broken: a: b: c",
        "  - stray\n nope: [",
        "zz_broken: *undefined",
        "zz_broken: !!python/object:os.system x",
        "? [a]\n: [b",
        "---\n- x\n---",
        "zz_broken: @reserved",
        "zz_broken: `reserved",
        "zz_broken: [a, b]]",
    ]
)


@st.composite
def invalid_dates(draw: st.DrawFn) -> str:
    year = draw(st.integers(1000, 9999))
    month = draw(st.integers(1, 99))
    if month > 12:
        day = draw(st.integers(1, 28))
    else:
        day = draw(
            st.integers(29, 99).filter(
                lambda d: (
                    d
                    > (
                        31
                        if month in (1, 3, 5, 7, 8, 10, 12)
                        else 30
                        if month != 2
                        else (29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28)
                    )
                )
            )
        )
    return f"{year:04d}-{month:02d}-{day:02d}"  # one-digit parts would read as a string


@st.composite
def alias_bombs(draw: st.DrawFn) -> str:
    width = draw(st.integers(8, 16))
    levels = 1
    while width**levels <= 10**6:
        levels += 1
    lines = [f"zz_b0: &b0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels + draw(st.integers(0, 3))):
        refs = ", ".join([f"*b{level - 1}"] * width)
        lines.append(f"zz_b{level}: &b{level} [{refs}]")
    return "\n".join(lines)


recursive = st.sampled_from(
    [
        "zz_loop: &r [*r]",
        "zz_loop: &r {self: *r}",
        "zz_loop: &r [1, [2, *r]]",
        "zz_loop: &r {a: [{b: *r}]}",
    ]
)


def common(text: str, *, top_key: str | None, dup_key: str) -> list[st.SearchStrategy[Bad]]:
    """Loader-level mutations that are invalid in every input file."""

    def at_end(extra: str) -> bytes:
        return (text.rstrip("\n") + "\n" + extra + "\n").encode()

    return [
        st.builds(lambda b: Bad("broken", at_end(b)), broken),
        st.builds(lambda b: Bad("alias_bomb", at_end(b)), alias_bombs()),
        st.builds(lambda r: Bad("recursive", at_end(r), key="zz_loop"), recursive),
        st.builds(
            lambda c, at: Bad("raw_control", _insert(text.encode(), c, at)),
            raw_control,
            st.integers(0, 10**6),
        ),
        st.builds(
            lambda c, at: Bad("not_utf8", _insert(text.encode(), c, at)),
            not_utf8,
            st.integers(0, 10**6),
        ),
        st.builds(
            lambda d: Bad("duplicate", at_end(d), key=dup_key),
            st.sampled_from([f"{dup_key}: again", f"{dup_key}: {{}}", f"{dup_key}: []"]),
        ),
        st.builds(
            lambda k, d: Bad("invalid_date", at_end(f"{k}: {d}"), key=k), names, invalid_dates()
        ),
        st.builds(
            lambda k: Bad("non_string_name", at_end(f"{k}: x")),
            st.sampled_from(["1", "2.5", "true", "null", "~", "2026-01-01", "0x1f"]),
        ),
        st.builds(lambda m: Bad("markup_syntax", at_end(f"zz{m}: [unclosed")), markup),
    ] + (
        []
        if top_key is None
        else [
            st.builds(
                lambda k, m: Bad("unknown_markup", at_end(f'"{k}{m}": 1'), shown=m), names, markup
            ),
            st.builds(lambda k, c: Bad("unknown_control", at_end(f'"{k}{c}": 1')), names, control),
        ]
    )


def _insert(data: bytes, chunk: bytes, at: int) -> bytes:
    at %= len(data) + 1
    return data[:at] + chunk + data[at:]


def _replace(text: str, old: str, new: str) -> bytes:
    assert old in text, old
    return text.replace(old, new, 1).encode()


def huge(size: int = 5 * 1024 * 1024) -> str:
    return "H" * size


# -- per file type --------------------------------------------------------------------------
def tier_mutations(text: str) -> st.SearchStrategy[Bad]:
    discount = "  onsite_callout_discount_percent: 10"
    start = '        start: "22:00"'
    duration = "        duration: 4h"
    days = "        days: [sat]"
    wrong_values = st.one_of(
        st.sampled_from(['"ten"', "[10]", "{a: 1}", "true", "10.5", "~"]),
        control.map(lambda c: f'"{c}"'),
        markup.map(lambda m: f'"{m}"'),
    )
    bad_starts = st.one_of(
        st.builds(lambda h, m: f'"{h:02d}:{m:02d}"', st.integers(24, 99), st.integers(0, 59)),
        st.builds(lambda h, m: f'"{h:02d}:{m:02d}"', st.integers(0, 23), st.integers(60, 99)),
        st.sampled_from(['"noon"', '"-1:00"', "[1]", '"22:00:00"', '"2200"']),
    )
    bad_durations = st.one_of(
        st.integers(1, 99).map(lambda h: f"-{h}h"),
        st.integers(25, 999).map(lambda h: f"{h}h"),
        st.sampled_from(["0m", "0h", "soon", "4 hours", '""', "[4h]", "-90m", "1d"]),
    )
    weekdays = {
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "daily",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    }
    bad_days = st.text(string.ascii_lowercase, min_size=1, max_size=9).filter(
        lambda d: d not in weekdays
    )
    return st.one_of(
        *common(text, top_key="name", dup_key="contract"),
        st.builds(
            lambda v: Bad(
                "wrong_type",
                _replace(text, discount, f"  onsite_callout_discount_percent: {v}"),
                key="contract.onsite_callout_discount_percent",
            ),
            wrong_values,
        ),
        st.builds(
            lambda v: Bad(
                "invalid_window",
                _replace(text, start, f"        start: {v}"),
                key="policies.patching.windows.servers.start",
            ),
            bad_starts,
        ),
        st.builds(
            lambda v: Bad(
                "invalid_window",
                _replace(text, duration, f"        duration: {v}"),
                key="policies.patching.windows.servers.duration",
            ),
            bad_durations,
        ),
        st.builds(
            lambda v: Bad(
                "invalid_window",
                _replace(text, days, f"        days: [{v}]"),
                key="policies.patching.windows.servers.days",
            ),
            bad_days,
        ),
        st.builds(
            lambda d: Bad(
                "invalid_date",
                _replace(text, "blackout_dates: []", f"blackout_dates: [{d}]"),
                key="policies.patching.blackout_dates",
            ),
            invalid_dates(),
        ),
        st.builds(
            lambda k: Bad(
                "unknown_key",
                _replace(text, discount, f"{discount}\n  {k}: 1"),
                key=f"contract.{k}",
            ),
            names,
        ),
        st.just(
            Bad(
                "huge",
                _replace(text, discount, f"  onsite_callout_discount_percent: {huge()}"),
                key="contract.onsite_callout_discount_percent",
            )
        ),
    )


def client_mutations(text: str) -> st.SearchStrategy[Bad]:
    start = "  start: 2026-01-05"
    return st.one_of(
        *common(text, top_key="name", dup_key="timezone"),
        st.builds(
            lambda d: Bad(
                "invalid_date", _replace(text, start, f"  start: {d}"), key="contract.start"
            ),
            invalid_dates(),
        ),
        st.builds(
            lambda v: Bad(
                "wrong_type", _replace(text, "name: Demo Bakery", f"name: {v}"), key="name"
            ),
            st.sampled_from(["[1, 2]", "{a: b}", "12", "true", "~"]),
        ),
        st.builds(
            lambda m: Bad(
                "markup_value",
                _replace(text, "  tier: silver", f'  tier: "{m}"'),
                key="contract.tier",
                shown=m,
            ),
            markup,
        ),
        st.builds(
            lambda c: Bad(
                "control_value", _replace(text, "Europe/Paris", f'"{c}"'), key="timezone"
            ),
            control,
        ),
        st.builds(
            lambda k: Bad("unknown_key", _replace(text, "timezone:", f"{k}: 1\ntimezone:"), key=k),
            names,
        ),
        st.just(Bad("huge", _replace(text, "Europe/Paris", huge()), key="timezone")),
    )


def hosts_mutations(text: str) -> st.SearchStrategy[Bad]:
    server = "        demo-server:\n"
    return st.one_of(
        *common(text, top_key=None, dup_key="all"),
        st.builds(
            lambda k: Bad(
                "non_string_host", _replace(text, server, f"        {k}: {{}}\n{server}")
            ),
            st.sampled_from(["1", "2.5", "true", "null", "2026-01-01", "[a]"]),
        ),
        st.builds(
            lambda k: Bad(
                "duplicate_host", _replace(text, server, f"{server}{server}"), key="demo-server"
            ),
            st.just(0),
        ),
        st.builds(
            lambda v: Bad(
                "wrong_type",
                _replace(
                    text,
                    "    workstations:\n      hosts: {}",
                    f"    workstations:\n      hosts: {v}",
                ),
            ),
            st.sampled_from(["[a, b]", "1", "[x]", "true", "2.5"]),
        ),  # a string is a host
        st.builds(
            lambda k: Bad(
                "unknown_key", _replace(text, "  children:", f"  {k}: 1\n  children:"), key=k
            ),
            names,
        ),
        st.builds(
            lambda m: Bad(
                "markup_group",
                _replace(text, "  children:", f'  children:\n    "{m}": [1]'),
                shown=m,
            ),
            markup,
        ),
    )


def vars_mutations(text: str, first_key: str) -> st.SearchStrategy[Bad]:
    return st.one_of(
        *common(text, top_key=None, dup_key=first_key),
        st.builds(
            lambda v: Bad("not_a_mapping", v.encode()),
            st.sampled_from(["- a\n- b\n", "just text\n", "42\n", "[1, 2]\n"]),
        ),
    )


def waiver_mutations(text: str) -> st.SearchStrategy[Bad]:
    expires = "    expires: 2027-01-31"
    approved = "    approved_by: Jane Doe (account manager)"
    return st.one_of(
        *common(text, top_key="waivers", dup_key="waivers"),
        st.builds(
            lambda d: Bad(
                "invalid_date",
                _replace(text, expires, f"    expires: {d}"),
                key="waivers[0].expires",
            ),
            invalid_dates(),
        ),
        st.just(Bad("duplicate", _replace(text, expires, f"{expires}\n{expires}"), key="expires")),
        st.builds(
            lambda v: Bad(
                "wrong_type",
                _replace(text, "    hosts: [demo-server]", f"    hosts: {v}"),
                key="waivers[0].hosts",
            ),
            st.sampled_from(["[]", "demo-server", "1", "{a: b}", "~"]),
        ),
        st.builds(
            lambda k: Bad(
                "unknown_key",
                _replace(text, expires, f"{expires}\n    {k}: 1"),
                key=f"waivers[0].{k}",
            ),
            names,
        ),
        st.builds(
            lambda m: Bad(
                "markup_value",
                _replace(text, approved, f'    approved_by: ["{m}"]'),
                key="approved_by",
                shown=m,
            ),
            markup,
        ),
        st.just(
            Bad(
                "huge",
                _replace(text, "    hosts: [demo-server]", f"    hosts: {huge()}"),
                key="waivers[0].hosts",
            )
        ),
    )


MUTATIONS: dict[str, tuple[Callable[[str], st.SearchStrategy[Bad]], int]] = {
    "tier": (tier_mutations, 280),
    "client": (client_mutations, 200),
    "hosts": (hosts_mutations, 160),
    "group_vars": (lambda t: vars_mutations(t, "ntp_servers"), 130),
    "host_vars": (lambda t: vars_mutations(t, "assets_warranty"), 110),
    "waivers": (waiver_mutations, 160),
}
assert sum(n for _, n in MUTATIONS.values()) >= 1000


def test_the_unmutated_files_are_valid(fuzzed: Project) -> None:
    """Baseline: each command accepts the files as written, so exit 3 is the mutation's."""
    from mspctl.cli import mspctl
    from mspctl.waivers import Waivers

    for command in {t.command for t in TARGETS.values() if t.command[0] != "report"}:
        result = CliRunner().invoke(mspctl, list(command), env=fuzzed.env)
        assert result.exit_code == 0, result.output
    assert len(Waivers.load(fuzzed.root / "inventories/demo", "x", {}).items) == 1


@pytest.mark.parametrize("target", list(MUTATIONS))
def test_fuzzed_documents_are_bad_input(fuzzed: Project, target: str) -> None:
    build, examples = MUTATIONS[target]
    strategy = build(fuzzed.originals[target].decode())
    started = COUNTS.get(target, 0)

    @settings(FUZZ, max_examples=examples)
    @given(strategy)
    def run(bad: Bad) -> None:
        check(fuzzed, target, bad)

    run()
    assert COUNTS.get(target, 0) - started >= examples * 0.9, COUNTS


@pytest.mark.parametrize("target", list(TARGETS))
def test_no_traceback_in_a_real_process(fuzzed: Project, target: str) -> None:
    """The installed entry point, in its own process: one line, exit 3, no traceback."""
    cases = [
        Bad(
            "alias_bomb",
            (
                fuzzed.originals[target].decode()
                + "\n"
                + "\n".join(
                    ["zz0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
                    + [f"zz{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
                )
            ).encode(),
        ),
        Bad("not_utf8", fuzzed.originals[target] + b"\nzz: \xff\xfe\n"),
    ]
    for bad in cases:
        spec = TARGETS[target]
        path = fuzzed.root / spec.path
        before = fuzzed.listing()
        path.write_bytes(bad.data)
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "mspctl", *spec.command],
                env={**os.environ, **fuzzed.env},
                capture_output=True,
                text=True,
                timeout=60,
                cwd=fuzzed.root,
            )
        finally:
            path.write_bytes(fuzzed.originals[target])
        PROCESSES.append(target)
        assert proc.returncode == 3, proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and spec.path in lines[0], proc.stderr
        assert time.monotonic() - started < 30
        after = [entry for entry in fuzzed.listing() if entry[0] != str(path)]
        assert after == [entry for entry in before if entry[0] != str(path)]


def test_at_least_1000_documents_per_run() -> None:
    """Runs last: the whole module fuzzed at least 1,000 bad documents (skipped under -k)."""
    if set(COUNTS) != set(MUTATIONS):
        pytest.skip("only part of the module ran")
    assert len(DISTINCT) >= 1000, (len(DISTINCT), COUNTS)
