"""Every role's defaults, argument spec and README agree (pure file reading, no ansible run).

For each role in ``roles/``:

- every variable of ``defaults/main.yml`` is declared, with a ``type``, in the ``main`` entry
  point of ``meta/argument_specs.yml``; a literal default is stated there with the same value;
  a templated default (``{{ ... }}``) is not, since the spec cannot evaluate it; a required
  option states none (Ansible forbids ``required`` with ``default``);
- every option of the spec is in the README's Role Variables table, and every variable of that
  table is in the spec; a required option without a default says ``required`` in the table;
- every variable (defaults, spec, README) is prefixed with the role name;
- the README has the skeleton's ``##`` headings of ``docs/role-readme-template.md``, in order.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES_DIR = ROOT / "roles"
TEMPLATE = ROOT / "docs" / "role-readme-template.md"
ROLES = sorted(p.name for p in ROLES_DIR.iterdir() if (p / "tasks" / "main.yml").is_file())

# The skeleton, in order; docs/role-readme-template.md must have the same headings.
SKELETON = [
    "Purpose",
    "Requirements",
    "Role Variables",
    "Controls reported",
    "How it works",
    "Example Playbook",
    "Platforms",
    "License",
]

_FENCE = re.compile(r"^(`{3,}|~{3,})")
_CELL_SEP = re.compile(r"(?<!\\)\|")  # a table cell separator, not an escaped \|
_ROW_NAME = re.compile(r"^`([A-Za-z0-9_]+)`$")


def _yaml(path: Path) -> Any:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _defaults(role: str) -> dict[str, Any]:
    return _yaml(ROLES_DIR / role / "defaults" / "main.yml") or {}


def _spec(role: str) -> dict[str, Any]:
    path = ROLES_DIR / role / "meta" / "argument_specs.yml"
    data = _yaml(path) or {}
    main = (data.get("argument_specs") or {}).get("main")
    assert isinstance(main, dict), f"{role}: {path.relative_to(ROOT)} has no `main` entry point"
    return dict(main.get("options") or {})


def _lines_outside_fences(text: str) -> list[str]:
    """The lines outside fenced code blocks (a fence closes with at least its opening's length)."""
    lines, fence = [], ""
    for line in text.splitlines():
        match = _FENCE.match(line.strip())
        if match:
            if not fence:
                fence = match.group(1)
                continue
            if match.group(1).startswith(fence) and not line.strip()[len(match.group(1)) :].strip():
                fence = ""
                continue
        if not fence:
            lines.append(line)
    return lines


def _headings(text: str) -> list[str]:
    return [line[3:].strip() for line in _lines_outside_fences(text) if line.startswith("## ")]


def _readme(role: str) -> str:
    path = ROLES_DIR / role / "README.md"
    assert path.is_file(), f"{role}: roles/{role}/README.md is missing"
    return path.read_text(encoding="utf-8")


def _readme_variables(role: str) -> dict[str, list[str]]:
    """Rows of the README's Role Variables table: variable -> its cells.

    The table is the one directly under ``## Role Variables``, before any ``###`` subsection
    (keys of a dict or list variable are documented in tables under their own subsection).
    """
    rows: dict[str, list[str]] = {}
    section = False
    for line in _lines_outside_fences(_readme(role)):
        if line.startswith("## "):
            section = line[3:].strip() == "Role Variables"
            continue
        if not section:
            continue
        if line.startswith("### "):
            break
        stripped = line.strip()
        if not stripped.startswith("|"):
            continue
        cells = [c.strip() for c in _CELL_SEP.split(stripped.strip("|"))]
        if not cells or set(cells[0]) <= set("-: ") or cells[0].lower() == "variable":
            continue
        match = _ROW_NAME.match(cells[0])
        assert match, (
            f"{role}: roles/{role}/README.md, Role Variables table: the first cell {cells[0]!r} "
            "must be one variable name in backticks"
        )
        name = match.group(1)
        assert name not in rows, f"{role}: roles/{role}/README.md lists `{name}` twice"
        rows[name] = cells
    return rows


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def test_the_skeleton_template_has_the_skeleton() -> None:
    assert TEMPLATE.is_file(), "docs/role-readme-template.md is missing"
    assert _headings(TEMPLATE.read_text(encoding="utf-8")) == SKELETON, (
        "docs/role-readme-template.md: its ## headings must be, in order: " + ", ".join(SKELETON)
    )


def test_roles_are_found() -> None:
    assert len(ROLES) >= 6, f"expected the six policy roles in roles/, found {ROLES}"


@pytest.mark.parametrize("role", ROLES)
def test_readme_follows_the_skeleton(role: str) -> None:
    headings = _headings(_readme(role))
    assert headings == SKELETON, (
        f"{role}: roles/{role}/README.md has the ## headings {headings}; the skeleton "
        f"(docs/role-readme-template.md) is {SKELETON}, in that order and nothing else at ##"
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_is_prefixed_with_the_role_name(role: str) -> None:
    prefix = f"{role}_"
    sources = {
        f"roles/{role}/defaults/main.yml": _defaults(role),
        f"roles/{role}/meta/argument_specs.yml": _spec(role),
        f"roles/{role}/README.md (Role Variables)": _readme_variables(role),
    }
    bad = [
        f"{where}: `{name}`"
        for where, names in sources.items()
        for name in names
        if not name.startswith(prefix)
    ]
    assert not bad, f"{role}: variables not prefixed with {prefix!r}: " + "; ".join(bad)


@pytest.mark.parametrize("role", ROLES)
def test_defaults_are_declared_in_the_spec(role: str) -> None:
    defaults, spec = _defaults(role), _spec(role)
    problems = []
    for name, value in defaults.items():
        option = spec.get(name)
        if option is None:
            problems.append(f"`{name}` is in defaults/main.yml but not in meta/argument_specs.yml")
            continue
        if "type" not in option:
            problems.append(f"`{name}` has no type in meta/argument_specs.yml")
        if option.get("required"):
            if "default" in option:
                problems.append(
                    f"`{name}` is required and has a default in meta/argument_specs.yml"
                )
        elif _templated(value):
            if "default" in option:
                problems.append(
                    f"`{name}` is templated in defaults/main.yml ({value!r}) but "
                    f"meta/argument_specs.yml states the default {option['default']!r}; "
                    "state none and describe it"
                )
        elif value is None:
            if option.get("default") is not None:
                problems.append(
                    f"`{name}` is null in defaults/main.yml but meta/argument_specs.yml states "
                    f"the default {option['default']!r}"
                )
        elif "default" not in option:
            problems.append(
                f"`{name}` defaults to {value!r} in defaults/main.yml; meta/argument_specs.yml "
                "states no default"
            )
        elif option["default"] != value:
            problems.append(
                f"`{name}` defaults to {value!r} in defaults/main.yml but to "
                f"{option['default']!r} in meta/argument_specs.yml"
            )
    assert not problems, (
        f"{role} (roles/{role}/defaults/main.yml vs roles/{role}/meta/argument_specs.yml): "
        + "; ".join(problems)
    )


@pytest.mark.parametrize("role", ROLES)
def test_spec_options_have_a_type(role: str) -> None:
    untyped = [name for name, option in _spec(role).items() if "type" not in (option or {})]
    assert not untyped, f"{role}: meta/argument_specs.yml options without a type: {untyped}"


@pytest.mark.parametrize("role", ROLES)
def test_readme_documents_every_spec_option(role: str) -> None:
    spec, rows = _spec(role), _readme_variables(role)
    missing = [name for name in spec if name not in rows]
    assert not missing, (
        f"{role}: roles/{role}/README.md, Role Variables table lacks the argument-spec "
        f"option(s) {missing}"
    )


@pytest.mark.parametrize("role", ROLES)
def test_readme_documents_nothing_outside_the_spec(role: str) -> None:
    spec, rows = _spec(role), _readme_variables(role)
    unknown = [name for name in rows if name not in spec]
    assert not unknown, (
        f"{role}: roles/{role}/README.md, Role Variables table lists {unknown}, not declared "
        f"in roles/{role}/meta/argument_specs.yml"
    )


@pytest.mark.parametrize("role", ROLES)
def test_readme_marks_required_inputs(role: str) -> None:
    spec, rows = _spec(role), _readme_variables(role)
    unmarked = [
        name
        for name, option in spec.items()
        if option.get("required")
        and name in rows
        and (len(rows[name]) < 2 or "required" not in rows[name][1].lower())
    ]
    assert not unmarked, (
        f"{role}: roles/{role}/README.md, Role Variables table: the Default cell of the "
        f"required input(s) {unmarked} must say `required`"
    )
