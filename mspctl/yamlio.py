"""Reading YAML files as bad-input-aware data, and turning validation errors into one line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mspctl.errors import BadInput

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    M = TypeVar("M", bound=BaseModel)


def load_yaml(path: Path, *, display: Path | str | None = None) -> Any:
    """Parse a YAML file; syntax errors become BadInput naming the file and the line."""
    import yaml

    shown = display or path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput("file not found", file=shown) from None
    except OSError as exc:
        raise BadInput(f"cannot read: {exc.strerror}", file=shown) from None
    try:
        return yaml.load(text, Loader=_safe_loader())  # noqa: S506 - a safe loader, see below
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "document"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"invalid YAML ({problem})", file=shown, key=where) from None


def _safe_loader() -> Any:
    """libyaml's safe loader when PyYAML was built with it (several times faster)."""
    try:
        from yaml import CSafeLoader
    except ImportError:
        from yaml import SafeLoader

        return SafeLoader
    return CSafeLoader


def load_model(path: Path, model: type[M], *, display: str, empty: Any = None) -> M:
    """A YAML mapping file validated as a pydantic model; any problem is one BadInput line."""
    from pydantic import ValidationError

    raw = load_yaml(path, display=display)
    if raw is None and empty is not None:
        raw = empty
    if not isinstance(raw, dict):
        raise BadInput("must be a mapping", file=display)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise first_error(exc, file=display) from None


def dotted(loc: Iterable[Any]) -> str:
    """('policies', 'patching', 0) -> 'policies.patching[0]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def first_error(exc: ValidationError, *, file: Path | str, prefix: str = "") -> BadInput:
    """The first pydantic error as a one-line BadInput naming the file and the key."""
    err = exc.errors(include_url=False)[0]
    key = dotted(err["loc"])
    if prefix:
        key = f"{prefix}.{key}" if key else prefix
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    elif err["type"] == "missing":
        message = "required key is missing"
    elif "input" in err and err["type"] not in ("value_error", "assertion_error"):
        message = f"{message} (got {err['input']!r})"
    return BadInput(message, file=file, key=key or None)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else (lists included) is replaced by the override."""
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
