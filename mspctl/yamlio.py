"""The one YAML loader of every mspctl input file, and one-line validation errors.

Every file a user writes (tier files, ``client.yml``, ``hosts.yml``, ``group_vars/``,
``host_vars/``, ``waivers.yml``) is read by :func:`load_yaml`. It composes the document with
libyaml (fast), checks the node graph, then constructs the data. The check refuses, naming the
file, the line and the key: duplicate keys (YAML silently keeps the last one), aliases that
expand beyond a node budget (an "alias bomb" turns a few hundred bytes into gigabytes once
validated or dumped), recursive aliases, invalid dates (``2026-02-30``), documents nested too
deeply, and non-string keys where names are expected. Values quoted in errors are shortened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mspctl.display import sanitize
from mspctl.errors import BadInput

if TYPE_CHECKING:
    import yaml
    from pydantic import BaseModel, ValidationError

    M = TypeVar("M", bound=BaseModel)

# nodes that aliases may add beyond the document's own nodes (a tier file has ~300 nodes)
ALIAS_BUDGET = 100_000
MAX_DEPTH = 64
MAX_FILE_BYTES = 32 * 2**20  # the largest real inventory is well under 1 MiB
SHOWN_CHARS = 80
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
# tags Ansible adds to its variable files; mspctl only validates, so they read as strings
_ANSIBLE_TAGS = ("!vault", "!unsafe", "!vault-encrypted")

# where a file's keys must be names: a predicate on the key path of the mapping holding them
NamesAt = Callable[[tuple[Any, ...]], bool]


def everywhere(_path: tuple[Any, ...]) -> bool:
    """Every key is a name (mspctl's own files: tiers, client.yml, waivers.yml)."""
    return True


def top_level(path: tuple[Any, ...]) -> bool:
    """Variable files (group_vars, host_vars): variable names; values may use any key."""
    return not path


def inventory_names(path: tuple[Any, ...]) -> bool:
    """An Ansible YAML inventory: group names, host names and variable names."""
    if not path:
        return True  # top-level groups
    if path[-1] in ("hosts", "children", "vars"):
        return True
    return len(path) >= 2 and path[-2] == "hosts"  # a host's variables


def shorten(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A value as quoted in an error: repr, control characters escaped, at most ``limit``."""
    text = sanitize(repr(value[: limit + 1] if isinstance(value, str) else value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def load_yaml(path: Path, *, display: Path | str | None = None, names: NamesAt = everywhere) -> Any:
    """Parse a YAML input file; any problem becomes one BadInput naming the file (and the line
    and key when there are some)."""
    import yaml

    shown = display or path
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise BadInput(
                f"larger than {MAX_FILE_BYTES // 2**20} MiB: not an input file", file=shown
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadInput("file not found", file=shown) from None
    except IsADirectoryError:
        raise BadInput("is a directory, not a file", file=shown) from None
    except OSError as exc:
        raise BadInput(f"cannot read: {exc.strerror}", file=shown) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInput(
            f"not UTF-8 text (byte {raw[exc.start]:#04x} on line {line})", file=shown
        ) from None
    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _Checker(shown, names).check(node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "document"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"invalid YAML ({sanitize(problem)[:200]})", file=shown, key=where) from None
    except RecursionError:
        raise BadInput(f"nested more than {MAX_DEPTH} levels deep", file=shown) from None
    finally:
        loader.dispose()


class _Checker:
    """One walk of the composed node graph (aliases are shared nodes, so it stays cheap)."""

    def __init__(self, file: Path | str, names: NamesAt) -> None:
        self.file = file
        self.names = names
        self.sizes: dict[int, int] = {}
        self.active: set[int] = set()
        self.distinct = 0

    def check(self, root: yaml.Node) -> None:
        total = self._walk(root, ())
        if total - self.distinct > ALIAS_BUDGET:
            self._fail(
                root,
                (),
                f"aliases expand to {total:,} nodes (at most "
                f"{ALIAS_BUDGET:,} more than the document's own)",
            )

    def _fail(self, node: yaml.Node, path: tuple[Any, ...], message: str) -> None:
        raise BadInput(
            f"line {node.start_mark.line + 1}: {message}",
            file=self.file,
            key=_path_text(path) or None,
        )

    def _walk(self, node: yaml.Node, path: tuple[Any, ...]) -> int:
        import yaml

        ident = id(node)
        if ident in self.sizes:
            return self.sizes[ident]
        if ident in self.active:
            self._fail(node, path, "recursive alias (a node that contains itself)")
        if len(path) > MAX_DEPTH:
            self._fail(node, path, f"nested more than {MAX_DEPTH} levels deep")
        self.active.add(ident)
        self.distinct += 1
        size = 1
        if isinstance(node, yaml.MappingNode):
            size += self._mapping(node, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                size += self._walk(item, (*path, index))
        elif isinstance(node, yaml.ScalarNode) and node.tag == _TIMESTAMP:
            self._timestamp(node, path)
        self.active.discard(ident)
        self.sizes[ident] = size
        if size - self.distinct > ALIAS_BUDGET:
            self._fail(node, path, f"aliases expand to more than {ALIAS_BUDGET:,} nodes")
        return size

    def _mapping(self, node: yaml.MappingNode, path: tuple[Any, ...]) -> int:
        import yaml

        size = 0
        seen: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:  # `<<: *defaults`: merged keys may be overridden
                size += self._walk(value_node, path)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._fail(key_node, path, "a key must be a name, not a list or mapping")
            key = key_node.value
            if key_node.tag != _STR and self.names(path):
                kind = key_node.tag.rsplit(":", 1)[-1]
                self._fail(
                    key_node,
                    (*path, key),
                    f"a name must be a string, got {shorten(key)} ({kind}; quote it)",
                )
            line = key_node.start_mark.line + 1
            if (key_node.tag, key) in seen:
                self._fail(
                    key_node,
                    (*path, key),
                    f"duplicate key {shorten(key)} (first on line {seen[key_node.tag, key]})",
                )
            seen[key_node.tag, key] = line
            size += self._walk(value_node, (*path, key))
        return size

    def _timestamp(self, node: yaml.ScalarNode, path: tuple[Any, ...]) -> None:
        import yaml

        try:  # PyYAML's own constructor, which reads no loader state
            yaml.constructor.SafeConstructor().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            self._fail(
                node,
                path,
                f"invalid date {shorten(node.value)} ({exc}; quote it if it is not a date)",
            )


_LOADER: Any = None


def _loader_class() -> Any:
    """libyaml's safe loader when PyYAML was built with it (several times faster), reading
    Ansible's tags as strings."""
    global _LOADER  # noqa: PLW0603 - built once, on first use (yaml loads lazily)
    if _LOADER is None:
        try:
            from yaml import CSafeLoader as Base
        except ImportError:
            from yaml import SafeLoader as Base  # type: ignore[assignment]

        class Loader(Base):
            pass

        for tag in _ANSIBLE_TAGS:
            Loader.add_constructor(tag, lambda loader, node: str(node.value))
        _LOADER = Loader
    return _LOADER


# parsed project files (role argument specs), keyed by path and checked against the file's
# bytes: an edited file is parsed again; a process parses each spec once however many tier
# keys it checks (reading a small file costs microseconds, parsing it in pure Python
# milliseconds)
_TRUSTED: dict[Path, tuple[bytes, Any]] = {}


def load_trusted(path: Path) -> Any:
    """A YAML file of the project itself (not user input, so no checks), parsed with libyaml
    when available and once per process while its content stays the same. The data is shared
    between callers: read it, never change it."""
    raw = path.read_bytes()
    cached = _TRUSTED.get(path)
    if cached is None or cached[0] != raw:
        import yaml

        try:
            from yaml import CSafeLoader as Loader
        except ImportError:
            from yaml import SafeLoader as Loader  # type: ignore[assignment]
        cached = _TRUSTED[path] = (raw, yaml.load(raw, Loader=Loader))
    return cached[1]


def _path_text(path: Iterable[Any]) -> str:
    text = dotted(p if isinstance(p, int) else _name(p) for p in path)
    return text if len(text) <= 2 * SHOWN_CHARS else "…" + text[-2 * SHOWN_CHARS + 1 :]


def _name(part: Any) -> str:
    text = sanitize(str(part))
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


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
    key = _path_text(err["loc"])
    if prefix:
        key = f"{prefix}.{key}" if key else prefix
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    elif err["type"] == "missing":
        message = "required key is missing"
    elif "input" in err and err["type"] not in ("value_error", "assertion_error"):
        message = f"{message} (got {shorten(err['input'])})"
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
