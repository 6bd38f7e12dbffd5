# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network device configurations as data: normalise, mask, parse, check controls, plan fixes.

Pure functions on text, standard library only, shared by the ``network_config`` module (which
runs on the controller with netmiko) and mspctl's configuration store. Nothing here talks to a
device.

* :func:`normalise` drops what changes without anyone changing the configuration (the byte
  count, "Last configuration change" comments, NTP clock period), so a backup is stored again
  only when the configuration really changed.
* :func:`mask` hides secret values (``secret``/``password``/``key`` arguments, SNMP
  communities) in anything stored or shown; controls are evaluated on the unmasked text.
* :func:`evaluate` checks the declarative controls (required and forbidden lines, globally or
  in the sections a regular expression selects) and returns findings and the commands that fix
  what failed; :func:`simulate` applies those commands to a configuration text, so check mode
  shows the same diff an apply would make.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import (
    ERROR,
    FAIL,
    PASS,
    finding,
)

MASK = "<masked>"

# device types the module knows how to read (show commands) and normalise; netmiko name -> info
DEVICE_TYPES: dict[str, dict[str, str]] = {
    "cisco_ios": {
        "show_config": "show running-config",
        "show_version": "show version",
        "textfsm_platform": "cisco_ios",
    },
}

# lines that change on their own: byte counts, timestamps, the NTP clock's drift
_VOLATILE = [
    re.compile(p)
    for p in (
        r"^Building configuration\.\.\.$",
        r"^Current configuration\s*:\s*\d+ bytes$",
        r"^! Last configuration change at ",
        r"^! NVRAM config last updated at ",
        r"^! No configuration change since last restart",
        r"^! Time: ",
        r"^ntp clock-period \d+$",
        r"^Load for five secs:",
        r"^Time source is ",
    )
]

# secret values: (pattern, replacement); the keyword and the encryption type stay visible
_SECRETS = [
    (re.compile(r"\b(secret|password)(\s+(?:\d+\s+)?)(\S+)"), r"\1\2" + MASK),
    (re.compile(r"^(\s*snmp-server community\s+)(\S+)"), r"\1" + MASK),
    (re.compile(r"\b(key(?:-string)?)(\s+(?:\d+\s+)?)(\S+)$"), r"\1\2" + MASK),
]

# what a device prints when it refuses a configuration line
REJECTED = re.compile(
    r"^\s*(% ?Invalid input|% ?Incomplete command|% ?Ambiguous command|No such command)",
    re.MULTILINE,
)

CONTROL_TYPES = ("required", "forbidden")
_CONTROL_KEYS = {"id", "title", "type", "line", "match", "section", "fix"}
_ID = re.compile(r"^[A-Za-z0-9_.:/-]+$")


class ControlError(ValueError):
    """An invalid control definition; names the control and the key."""

    def __init__(self, control_id: str, key: str, message: str) -> None:
        super().__init__(f"control {control_id!r}, key {key!r}: {message}")
        self.control_id = control_id
        self.key = key


# ---------------------------------------------------------------------------------------------
# text


def normalise(text: str) -> str:
    """The configuration without volatile lines, trailing blanks or carriage returns; it
    starts at the first real line and ends with one newline."""
    lines = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.rstrip()
        if any(p.search(line) for p in _VOLATILE):
            continue
        lines.append(line)
    while lines and lines[0].strip() in ("", "!"):  # what the dropped header left
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def mask_line(line: str) -> str:
    for pattern, replacement in _SECRETS:
        line = pattern.sub(replacement, line)
    return line


def mask(text: str) -> str:
    """Secret values replaced by ``<masked>``, line by line."""
    return "\n".join(mask_line(line) for line in text.split("\n"))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _significant(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("!") and stripped != "end"


def sections(text: str) -> list[tuple[str, list[str]]]:
    """Top-level lines with their indented children (stripped), comments and ``end`` left out."""
    out: list[tuple[str, list[str]]] = []
    for line in text.split("\n"):
        if not _significant(line):
            continue
        if _indent(line) == 0 or not out:
            out.append((line.strip(), []))
        else:
            out[-1][1].append(line.strip())
    return out


# ---------------------------------------------------------------------------------------------
# controls


def validate(controls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The controls with defaults filled in; ControlError on the first invalid one."""
    seen: set[str] = set()
    out = []
    for index, raw in enumerate(controls):
        if not isinstance(raw, dict):
            raise ControlError(f"#{index + 1}", "-", "a control must be a mapping")
        control_id = str(raw.get("id") or f"#{index + 1}")
        if not raw.get("id") or not _ID.match(control_id):
            raise ControlError(control_id, "id", "required; letters, digits and _.:/- only")
        if control_id in seen:
            raise ControlError(control_id, "id", "repeats the id of another control")
        seen.add(control_id)
        unknown = sorted(k for k, v in raw.items() if k not in _CONTROL_KEYS and v is not None)
        if unknown:
            raise ControlError(control_id, unknown[0], "unknown key")
        kind = raw.get("type")
        if kind not in CONTROL_TYPES:
            raise ControlError(control_id, "type", f"must be one of {', '.join(CONTROL_TYPES)}")
        if not raw.get("line") and not raw.get("match"):
            raise ControlError(control_id, "line", "give line (an exact line), match or both")
        for key in ("match", "section"):
            if raw.get(key):
                try:
                    re.compile(raw[key])
                except re.error as exc:
                    message = f"invalid regular expression: {exc}"
                    raise ControlError(control_id, key, message) from None
        control = {k: raw.get(k) for k in _CONTROL_KEYS}
        control["id"] = control_id
        control["fix"] = True if raw.get("fix") is None else bool(raw["fix"])
        control["title"] = raw.get("title") or _title(control)
        out.append(control)
    return out


def _title(control: dict[str, Any]) -> str:
    what = control["line"] or f"a line matching {control['match']}"
    where = f" in every section matching {control['section']}" if control["section"] else ""
    verb = "is present" if control["type"] == "required" else "is absent"
    return f"{what} {verb}{where}"


def _matches(control: dict[str, Any], line: str) -> bool:
    if control["match"]:
        return re.search(control["match"], line) is not None
    return " ".join(line.split()) == " ".join(str(control["line"]).split())


def _negate(line: str) -> str:
    return line[3:] if line.startswith("no ") else "no " + line


def evaluate(
    text: str, controls: list[dict[str, Any]], policy: str = "network"
) -> tuple[list[dict[str, Any]], list[list[str]]]:
    """Findings of validated ``controls`` on the (unmasked) configuration ``text``, and the
    fixes: one list of commands per change (``[parent, line]`` inside a section, ``[line]`` at
    the top). Evidence is masked."""
    tree = sections(text)
    findings: list[dict[str, Any]] = []
    fixes: list[list[str]] = []
    for control in controls:
        scopes: list[tuple[str | None, list[str]]]
        if control["section"]:
            scopes = [(p, kids) for p, kids in tree if re.search(control["section"], p)]
            if not scopes:
                status = FAIL if control["type"] == "required" else PASS
                findings.append(
                    finding(
                        policy,
                        control["id"],
                        control["title"],
                        status,
                        expected=f"a section matching {control['section']}",
                        actual="no such section",
                    )
                )
                continue
        else:
            scopes = [(None, [top for top, _kids in tree])]
        bad: list[str] = []  # the sections failing, or the forbidden lines found
        control_fixes: list[list[str]] = []
        for parent, lines in scopes:
            hits = [line for line in lines if _matches(control, line)]
            if control["type"] == "required" and not hits:
                bad.append(parent or "(global)")
                if control["fix"] and control["line"]:
                    control_fixes.append(([parent] if parent else []) + [control["line"]])
            elif control["type"] == "forbidden" and hits:
                bad += [f"{parent}: {h}" if parent else h for h in hits]
                if control["fix"]:
                    control_fixes += [([parent] if parent else []) + [_negate(h)] for h in hits]
        expected = control["line"] or control["match"]
        if control["type"] == "required":
            actual = f"missing in {', '.join(bad)}" if bad else "present"
        else:
            actual = "found" if bad else "absent"
            expected = f"no {expected}"
        evidence: dict[str, Any] = {"lines": [mask_line(b) for b in bad[:20]]} if bad else {}
        if bad and control_fixes:
            evidence["fix"] = [mask_line(" / ".join(f)) for f in control_fixes[:20]]
        findings.append(
            finding(
                policy,
                control["id"],
                control["title"],
                FAIL if bad else PASS,
                expected=expected,
                actual=actual,
                evidence=evidence,
            )
        )
        fixes += control_fixes
    return findings, fixes


def error_finding(policy: str, control_id: str, title: str, message: str) -> dict[str, Any]:
    return finding(policy, control_id, title, ERROR, actual=message)


def commands(fixes: list[list[str]]) -> list[str]:
    """The configuration-mode commands of ``fixes``: a section's lines after its parent, then
    ``exit`` back to the top (grouped by parent, in order)."""
    out: list[str] = []
    for fix in fixes:
        if len(fix) == 1:
            out.append(fix[0])
        else:
            out += [fix[0], *fix[1:], "exit"]
    return out


def _scope(lines: list[str], parent: str | None) -> tuple[int, int]:
    """The range of lines a fix acts on: the whole text, or a section's children (the section
    is appended when missing, as configuring its parent line creates it)."""
    if parent is None:
        return 0, len(lines)
    tops = (i for i, x in enumerate(lines) if x.strip() == parent and not _indent(x))
    start = next(tops, -1)
    if start < 0:
        at = len(lines) - 1 if lines and lines[-1].strip() == "end" else len(lines)
        lines.insert(at, parent)
        start = at
    stop = start + 1
    while stop < len(lines) and lines[stop].startswith(" "):
        stop += 1
    return start + 1, stop


def _remove(lines: list[str], start: int, stop: int, target: str, top: bool) -> list[str]:
    """``lines`` without ``target`` in [start, stop); a top-level line takes its children."""
    target = " ".join(target.split())
    keep: list[str] = []
    skip = False
    for i, x in enumerate(lines):
        if skip and x.startswith(" "):
            continue
        skip = False
        level_ok = not top or not _indent(x)
        if start <= i < stop and level_ok and " ".join(x.split()) == target:
            skip = top
            continue
        keep.append(x)
    return keep


def simulate(text: str, fixes: list[list[str]]) -> str:
    """``text`` as the device would show it after ``fixes``: added lines at the end of their
    section (or before ``end``), ``no X`` removes ``X`` (a whole section when X is one), and an
    added line replaces its negated form."""
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    for fix in fixes:
        parent, line = (fix[0], fix[-1]) if len(fix) > 1 else (None, fix[0])
        start, stop = _scope(lines, parent)
        if line.startswith("no "):
            lines = _remove(lines, start, stop, line[3:], parent is None)
            continue
        before = len(lines)
        lines = _remove(lines, start, stop, _negate(line), parent is None)
        stop -= before - len(lines)
        if parent is None:
            at = len(lines) - 1 if lines and lines[-1].strip() == "end" else len(lines)
            lines.insert(at, line)
        else:
            lines.insert(stop, " " + line)
    return "\n".join(lines) + "\n" if lines else ""


def restore_fixes(current: str, target: str) -> tuple[list[list[str]], list[str]]:
    """The fixes that turn the (unmasked) ``current`` configuration into the stored (masked)
    ``target``: lines only in ``current`` negated first, then lines only in ``target`` added.
    Lines are compared masked, so a secret is never changed; a target line holding a masked
    value cannot be restored and is returned in the second list."""
    cur = sections(current)
    tgt = sections(target)
    cur_kids = {mask_line(p): kids for p, kids in cur}
    tgt_kids = dict(tgt)
    removals: list[list[str]] = []
    additions: list[list[str]] = []
    skipped: list[str] = []
    for parent, kids in cur:
        masked = mask_line(parent)
        if masked not in tgt_kids:
            removals.append([_negate(parent)])
            continue
        wanted = set(tgt_kids[masked])
        removals += [[parent, _negate(k)] for k in kids if mask_line(k) not in wanted]
    for parent, kids in tgt:
        if MASK in parent:
            if parent not in cur_kids:
                skipped.append(parent)
            continue
        have = {mask_line(k) for k in cur_kids.get(parent, [])}
        missing = [k for k in kids if k not in have]
        skipped += [f"{parent} / {k}" for k in missing if MASK in k]
        missing = [k for k in missing if MASK not in k]
        if parent not in cur_kids and not missing:
            additions.append([parent])
        additions += [[parent, k] for k in missing]
    return removals + additions, skipped
