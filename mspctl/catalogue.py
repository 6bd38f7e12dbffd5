"""The tier catalogue: ``tiers/<name>.yml`` files, each able to ``extends`` another.

A tier is resolved by deep-merging its ancestors (root first), then validated as a whole. Each
file is also validated on its own, so a wrong type is reported in the file that wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mspctl.errors import BadInput
from mspctl.policies import (
    HOST_CLASSES,
    POLICIES,
    RESERVED_KEYS,
    check_windows,
    role_variables,
    window_specs,
)
from mspctl.yamlio import deep_merge, dotted, first_error, load_yaml, shorten

if TYPE_CHECKING:
    from mspctl.trials import Offer

HostClass = Literal["servers", "workstations", "nas", "printers", "network"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Hours = Annotated[float, Field(gt=0, le=24 * 14)]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FirstResponse(Strict):
    """First-response SLA in hours: ``default`` plus optional per-host-class overrides."""

    default: Hours
    servers: Hours | None = None
    workstations: Hours | None = None
    nas: Hours | None = None
    printers: Hours | None = None
    network: Hours | None = None

    def for_class(self, host_class: str) -> float:
        value = getattr(self, host_class, None)
        return float(value if value is not None else self.default)


class SupportHours(Strict):
    days: list[Weekday] = Field(min_length=1)
    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f'expected a quoted time like "08:00", got {shorten(value)}')
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SupportHours:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self


class ReviewMeetings(Strict):
    per_year: Annotated[int, Field(ge=0, le=12)]
    hours: Annotated[float, Field(ge=0, le=8)]


class Contract(Strict):
    first_response_hours: FirstResponse
    support_hours: SupportHours
    evening_weekend_support: Literal["none", "on_request", "scheduled"]
    all_inclusive_assistance: bool
    onsite_callout_discount_percent: Annotated[int, Field(ge=0, le=100)]
    review_meetings: ReviewMeetings


class Reporting(Strict):
    cadence: Literal["none", "quarterly", "monthly"]


class PolicyBlock(BaseModel):
    """``enabled`` and ``hosts`` belong to mspctl; every other key is a role parameter."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    enabled: bool
    hosts: list[HostClass] = Field(default_factory=list)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Tier(Strict):
    name: str
    extends: str | None = None
    title: str
    summary: str
    contract: Contract
    reporting: Reporting
    policies: dict[str, PolicyBlock]

    @field_validator("policies")
    @classmethod
    def _known_policies(cls, value: dict[str, PolicyBlock]) -> dict[str, PolicyBlock]:
        for name in value:
            if name not in POLICIES:
                known = ", ".join(sorted(POLICIES))
                raise ValueError(f"unknown policy {shorten(name)} (known: {known})")
        return value

    @model_validator(mode="after")
    def _enabled_have_hosts(self) -> Tier:
        for name, block in self.policies.items():
            if block.enabled and not block.hosts:
                raise ValueError(f"policy {name!r} is enabled but targets no host class")
        return self

    @property
    def enabled_policies(self) -> dict[str, PolicyBlock]:
        return {name: block for name, block in self.policies.items() if block.enabled}

    def role_vars(self) -> dict[str, Any]:
        """Role variables of every enabled policy, prefixed with the role name."""
        out: dict[str, Any] = {}
        for name, block in self.enabled_policies.items():
            out.update(role_variables(name, block.params))
        return out

    def host_pattern(self, policy: str) -> str:
        """The Ansible host pattern a policy targets (its host classes), or '' when disabled."""
        block = self.enabled_policies.get(policy)
        return ":".join(block.hosts) if block else ""


@dataclass(frozen=True)
class ResolvedTier:
    """A tier with inheritance applied, plus where it came from (root first)."""

    tier: Tier
    chain: tuple[str, ...]
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return self.tier.name

    def as_dict(self) -> dict[str, Any]:
        data = self.tier.model_dump(mode="json", exclude={"extends"}, exclude_none=True)
        data["inherits"] = list(self.chain[:-1])
        return data


class Catalogue:
    """Loads tier files on demand from one directory.

    With a ``cache_dir``, the role-parameter checks a policy block passed are remembered there
    (:class:`PassedChecks`), keyed by the content of everything that decides them: the next
    command checking the same block against the same files skips Ansible's validator."""

    def __init__(
        self, directory: Path, project_dir: Path | None = None, cache_dir: Path | None = None
    ) -> None:
        self.directory = directory
        self.project_dir = project_dir or directory.parent
        self._raw: dict[str, dict[str, Any]] = {}
        self._resolved: dict[str, ResolvedTier] = {}
        self._passed = PassedChecks(cache_dir) if cache_dir is not None else None

    @classmethod
    def load(cls, directory: Path, cache_dir: Path | None = None) -> Catalogue:
        if not directory.is_dir():
            raise BadInput("tier catalogue directory not found", file=directory)
        return cls(directory, cache_dir=cache_dir)

    @cached_property
    def names(self) -> list[str]:
        from mspctl.trials import OFFERS_FILE

        return sorted(
            p.stem
            for p in self.directory.glob("*.yml")
            if not p.name.startswith(("_", ".")) and p.name != OFFERS_FILE  # offers: no tier
        )

    @cached_property
    def offers(self) -> dict[str, Offer]:
        """The trial offers of ``offers.yml`` (mspctl.trials), none without the file."""
        from mspctl.trials import load_offers

        return load_offers(self.directory, self.names)

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.yml"

    def _display(self, name: str) -> str:
        try:
            return str(self.path(name).relative_to(self.project_dir))
        except ValueError:
            return str(self.path(name))

    def _read(self, name: str) -> dict[str, Any]:
        if name in self._raw:
            return self._raw[name]
        file = self._display(name)
        data = load_yaml(self.path(name), display=file)
        if not isinstance(data, dict):
            raise BadInput("a tier file must be a mapping", file=file)
        try:
            Tier.model_validate(data)
        except ValidationError as exc:
            # a file may leave keys to its ancestors; any other problem is reported here
            problems = [e for e in exc.errors() if e["type"] != "missing"]
            if problems:
                raise first_error(_only(exc, problems), file=file) from None
        if data.get("name") != name:
            raise BadInput(f"must be {shorten(name)} (the file name)", file=file, key="name")
        patching = (data.get("policies") or {}).get("patching")
        if isinstance(patching, dict):
            check_windows(self.project_dir, patching, file=file)
        self._raw[name] = data
        return data

    def chain(self, name: str) -> tuple[str, ...]:
        """Ancestors of a tier, root first, ending with the tier itself."""
        if name not in self.names:
            raise BadInput(f"unknown tier {shorten(name)} (known: {', '.join(self.names)})")
        seen: list[str] = []
        current: str | None = name
        while current is not None:
            if current in seen:
                raise self._cycle(seen[seen.index(current) :])
            seen.append(current)
            data = self._read(current)
            parent = data.get("extends")
            if parent is not None and parent not in self.names:
                raise BadInput(
                    f"extends unknown tier {shorten(parent)}",
                    file=self._display(current),
                    key="extends",
                )
            current = parent
        return tuple(reversed(seen))

    def _cycle(self, loop: list[str]) -> BadInput:
        """Blame the loop's most recently modified file (the edit that closed it, as far as the
        tree can tell), never a tier that merely extends the loop; ties: the loop's last."""
        blamed = max(reversed(loop), key=lambda m: self.path(m).stat().st_mtime_ns)
        start = loop.index(blamed)
        ordered = [*loop[start:], *loop[:start], blamed]
        return BadInput(
            f"circular inheritance: {' -> '.join(ordered)}",
            file=self._display(blamed),
            key="extends",
        )

    def get(self, name: str) -> ResolvedTier:
        if name in self._resolved:
            return self._resolved[name]
        chain = self.chain(name)
        merged: dict[str, Any] = {}
        for member in chain:
            merged = deep_merge(merged, self._read(member))
        try:
            tier = Tier.model_validate(merged)
        except ValidationError as exc:
            raise first_error(exc, file=self._display(name)) from None
        self._check_role_parameters(tier, chain)
        patching = tier.enabled_policies.get("patching")
        if patching is not None:
            for where, _ in window_specs(patching.params):
                top = where.split(".", 1)[0]  # "windows" or "reboot_window"
                origin = self._origin(chain, "patching", top)
                check_windows(
                    self.project_dir,
                    {top: patching.params[top]},
                    file=self._display(origin),
                    complete=True,
                )
        resolved = ResolvedTier(tier=tier, chain=chain, data=merged)
        self._resolved[name] = resolved
        return resolved

    def _check_role_parameters(self, tier: Tier, chain: tuple[str, ...]) -> None:
        from mspctl.policies import validate_parameters

        for policy, block in tier.enabled_policies.items():
            if not block.params:
                continue
            passed = self._passed
            digest = passed.key(self.project_dir, policy, block.params) if passed else ""
            if passed and digest in passed:
                continue
            # a role's options are checked one by one (no option constrains another), so the
            # block passing whole is every key passing alone: one check for the usual case,
            # key by key only to name the file of a problem
            try:
                validate_parameters(
                    self.project_dir, policy, block.params, file=self._display(chain[-1])
                )
                if passed:
                    passed.add(digest)
                continue
            except BadInput:
                pass
            for key, value in block.params.items():
                # name the nearest file that set the key
                origin = self._origin(chain, policy, key)
                validate_parameters(
                    self.project_dir, policy, {key: value}, file=self._display(origin)
                )

    def _origin(self, chain: tuple[str, ...], policy: str, key: str) -> str:
        """The nearest tier of a chain whose file sets a policy's key."""
        return next(
            m
            for m in reversed(chain)
            if key in (self._raw[m].get("policies", {}).get(policy) or {})
        )

    def all(self) -> list[ResolvedTier]:
        """Every tier, roots first (bronze, silver, ...)."""
        return sorted((self.get(name) for name in self.names), key=lambda r: (len(r.chain), r.name))


class PassedChecks:
    """Role-parameter checks that passed, as digests in ``<cache_dir>/tier-checks.json``.

    A digest covers every input of the check: the policy, its parameters, the role's
    ``meta/argument_specs.yml``, mspctl's checking code and Ansible's validator (their files'
    bytes). Any edit gives another digest, so a remembered check can never hide a change; a
    failing check is never remembered. A missing, unreadable or corrupt file is an empty cache.
    """

    FILE = "tier-checks.json"
    KEEP = 512

    def __init__(self, cache_dir: Path) -> None:
        self.file = cache_dir / self.FILE
        self._known: list[str] | None = None

    def _load(self) -> list[str]:
        if self._known is None:
            import json

            try:
                data = json.loads(self.file.read_text(encoding="utf-8"))
                self._known = (
                    [d for d in data if isinstance(d, str)] if isinstance(data, list) else []
                )
            except (OSError, ValueError):
                self._known = []
        return self._known

    def __contains__(self, key: str) -> bool:
        return key in self._load()

    def add(self, key: str) -> None:
        """Remember a passed check (best effort: a cache that cannot be written is skipped)."""
        import json
        import os

        from mspctl.config import private_dir

        kept = [k for k in self._load() if k != key][-(self.KEEP - 1) :]
        known = [*kept, key]
        self._known = known
        temp = self.file.with_name(f".{self.FILE}.{os.getpid()}.tmp")
        try:
            private_dir(self.file.parent)
            temp.write_text(json.dumps(known), encoding="utf-8")
            os.replace(temp, self.file)
        except OSError:
            temp.unlink(missing_ok=True)

    @staticmethod
    def key(project_dir: Path, policy: str, params: dict[str, Any]) -> str:
        import hashlib
        import json

        from mspctl import __version__

        spec = POLICIES[policy].role_dir(project_dir) / "meta" / "argument_specs.yml"
        digest = hashlib.sha256()
        for part in (__version__, policy, json.dumps(params, sort_keys=True, default=repr)):
            digest.update(part.encode() + b"\0")
        digest.update(spec.read_bytes() if spec.is_file() else b"no spec")
        digest.update(_checker_digest())
        return digest.hexdigest()


@cache
def _checker_digest() -> bytes:
    """The bytes of the code that checks role parameters: mspctl's and Ansible's validator
    (found without importing Ansible)."""
    import hashlib
    import importlib.util

    import mspctl.policies

    digest = hashlib.sha256(Path(mspctl.policies.__file__).read_bytes())
    found = importlib.util.find_spec("ansible")
    for folder in (found.submodule_search_locations or []) if found else []:
        common = Path(folder) / "module_utils" / "common"
        for name in ("arg_spec.py", "parameters.py", "validation.py"):
            file = common / name
            digest.update(file.read_bytes() if file.is_file() else b"-")
        release = Path(folder) / "release.py"
        digest.update(release.read_bytes() if release.is_file() else b"-")
    return digest.digest()


def _only(exc: ValidationError, errors: list[Any]) -> ValidationError:
    return ValidationError.from_exception_data(exc.title, errors)


def diff_tiers(a: ResolvedTier, b: ResolvedTier) -> list[dict[str, Any]]:
    """What changes moving a client from tier a to tier b, as flat key changes."""
    left = _flatten(a.as_dict())
    right = _flatten(b.as_dict())
    changes: list[dict[str, Any]] = []
    for key in sorted(set(left) | set(right), key=_policy_first):
        if key in ("name", "title", "summary", "inherits"):
            continue
        before, after = left.get(key), right.get(key)
        if before != after:
            changes.append({"key": key, "from": before, "to": after, "kind": _kind(before, after)})
    return changes


def setting_text(value: Any, none: str = "-") -> str:
    """A flat tier setting (a value of :func:`diff_tiers`) as text: lists joined, nothing as
    ``none``."""
    if value is None:
        return none
    if isinstance(value, list):
        return ", ".join(map(str, value)) or none
    return str(value)


def _policy_first(key: str) -> tuple[int, str]:
    return (0 if key.startswith("contract") else 1 if key.startswith("policies") else 2, key)


def _kind(before: Any, after: Any) -> str:
    if before in (None, False, 0, "none", []) and after not in (None, False, 0, "none", []):
        return "gained"
    if after in (None, False, 0, "none", []) and before not in (None, False, 0, "none", []):
        return "lost"
    return "changed"


def _flatten(data: Any, prefix: tuple[Any, ...] = ()) -> dict[str, Any]:
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, (*prefix, key)))
        return out
    return {dotted(prefix): data}


__all__ = [
    "HOST_CLASSES",
    "RESERVED_KEYS",
    "Catalogue",
    "ResolvedTier",
    "Tier",
    "diff_tiers",
    "setting_text",
]
