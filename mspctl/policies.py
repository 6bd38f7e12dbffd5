"""The policy registry: which policies exist, which role implements each, and its inputs.

A policy in a tier is ``{enabled, hosts, <parameters>}``. Each parameter ``p`` of policy ``x``
becomes the role variable ``x_p`` (geerlingguy-style prefixes) and is validated against the
role's ``meta/argument_specs.yml``, so the role's spec is the single source of truth for types.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from mspctl.errors import BadInput

HOST_CLASSES = ("servers", "workstations", "nas", "printers", "network")


@dataclass(frozen=True)
class PolicySpec:
    name: str
    role: str
    description: str
    # the role has a Windows path (tasks chosen by os_family); a Windows host in scope of a
    # policy without one is bad input before anything runs (docs/windows.md)
    windows: bool = False
    # the policy reaches network devices, not operating systems (no Windows question to ask)
    devices: bool = False

    def role_dir(self, project_dir: Path) -> Path:
        return project_dir / "roles" / self.role


POLICIES: dict[str, PolicySpec] = {
    spec.name: spec
    for spec in (
        PolicySpec(
            "assets", "assets", "Hardware/software inventory and warranty data.", windows=True
        ),
        PolicySpec(
            "patching", "patching", "Updates in patch windows, with a reboot policy.", windows=True
        ),
        PolicySpec(
            "backup_agent", "backup_agent", "restic backups with restore tests.", windows=True
        ),
        PolicySpec(
            "monitoring",
            "monitoring",
            "Node exporter, health metrics, MSP alert hook.",
            windows=True,
        ),
        PolicySpec("printers", "printers", "CUPS queues from the client inventory.", windows=True),
        PolicySpec(
            "baseline",
            "baseline",
            "Declarative controls a tier adds without Python.",
            windows=True,
        ),
        PolicySpec(
            "network",
            "network",
            "Network devices: config backup, controls, remediation.",
            devices=True,
        ),
    )
}

# keys of a policy block that belong to mspctl, not to the role
RESERVED_KEYS = frozenset({"enabled", "hosts"})


def role_variables(policy: str, params: dict[str, Any]) -> dict[str, Any]:
    """Tier parameters of a policy as prefixed role variables."""
    role = POLICIES[policy].role
    return {f"{role}_{key}": value for key, value in params.items()}


def load_argument_spec(role_dir: Path) -> dict[str, Any] | None:
    """The ``main`` entry point's options of a role, or None when the role declares none."""
    from mspctl.yamlio import load_trusted

    spec_file = role_dir / "meta" / "argument_specs.yml"
    if not spec_file.is_file():
        return None
    data = load_trusted(spec_file) or {}  # ours, not user input
    options = data.get("argument_specs", {}).get("main", {}).get("options", {})
    return dict(options)


def _relax(options: dict[str, Any]) -> dict[str, Any]:
    """A tier sets some of a role's inputs; the inventory may set the rest, so none is required."""
    relaxed = {}
    for name, option in options.items():
        kept = {k: v for k, v in option.items() if k not in ("required", "description")}
        if "options" in kept:
            kept["options"] = _relax(kept["options"])
        relaxed[name] = kept
    return relaxed


def validate_parameters(
    project_dir: Path, policy: str, params: dict[str, Any], *, file: Path | str
) -> None:
    """Check tier parameters against the role's argument spec; BadInput names the first problem."""
    spec = POLICIES[policy]
    options = load_argument_spec(spec.role_dir(project_dir))
    if options is None:
        return
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    validator = ArgumentSpecValidator(_relax(options))
    result = validator.validate(role_variables(policy, params))
    # names of unknown parameters; nested ones come as (parent, ..., name) tuples
    unsupported = sorted(
        ".".join(map(str, p)) if isinstance(p, tuple) else str(p)
        for p in result.unsupported_parameters
    )
    if unsupported:
        key = unsupported[0].removeprefix(f"{spec.role}_")
        raise BadInput("unknown parameter", file=file, key=f"policies.{policy}.{key}")
    if result.error_messages:
        message = result.error_messages[0].replace(f"{spec.role}_", "")
        if len(message) > _MESSAGE_CHARS:  # it may quote a huge value whole
            message = message[: _MESSAGE_CHARS - 1] + "…"
        raise BadInput(message, file=file, key=f"policies.{policy}")


# -- patch windows: checked by the parser the patching modules and filter run ----------------
WINDOW_PARSER = Path("plugins") / "module_utils" / "patch_window.py"
# a complete window; each key a tier sets is checked alone against it, so the error names it
_WINDOW_BASE = {"days": ["daily"], "start": "00:00", "duration": "1h", "timezone": "UTC"}
_MESSAGE_CHARS = 200


@cache
def window_parser(project_dir: Path) -> ModuleType | None:
    """The collection's ``module_utils/patch_window.py`` of this project, loaded from its file.

    Loaded by path rather than through Ansible's collection loader: it is a standard-library
    module, the exact file the modules ship, and loading it this way installs no import hooks
    and needs neither ``ansible`` imported nor ``sys.path`` changed (the project dir is a
    setting). None for a project tree without it (the argument spec still checks types).
    """
    path = project_dir / WINDOW_PARSER
    if not path.is_file():
        return None
    name = f"_mspctl_patch_window_{abs(hash(path))}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module


def window_specs(params: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The patch windows a patching policy block sets: (key under the policy, spec)."""
    found: list[tuple[str, Any]] = []
    windows = params.get("windows")
    if isinstance(windows, Mapping):
        found += [(f"windows.{cls}", spec) for cls, spec in windows.items()]
    elif windows is not None:
        found.append(("windows", windows))
    if params.get("reboot_window") not in (None, {}):
        found.append(("reboot_window", params["reboot_window"]))
    return found


def check_windows(
    project_dir: Path, params: Mapping[str, Any], *, file: Path | str, complete: bool = False
) -> None:
    """Patch windows of a patching block, checked key by key with ``parse_window``; with
    ``complete``, each window must also have every key (a resolved tier)."""
    parser = window_parser(project_dir)
    if parser is None:
        return

    def parse(spec: Mapping[str, Any], where: str) -> None:
        try:
            parser.parse_window(spec)
        except parser.WindowError as exc:
            message = str(exc.message)
            if len(message) > _MESSAGE_CHARS:
                message = message[: _MESSAGE_CHARS - 1] + "…"
            raise BadInput(message, file=file, key=f"{where}.{exc.key}") from None

    for where, spec in window_specs(params):
        key = f"policies.patching.{where}"
        if not isinstance(spec, Mapping):
            raise BadInput(
                "a window must be a mapping with days, start and duration", file=file, key=key
            )
        for name, value in spec.items():
            if name == "timezone":  # the client's time zone is added when the role runs
                raise BadInput(
                    "unknown key (a window uses the client's time zone)",
                    file=file,
                    key=f"{key}.timezone",
                )
            parse({**_WINDOW_BASE, name: value}, key)
        if complete:
            parse({**spec, "timezone": "UTC"}, key)
    if "blackout_dates" in params:
        parse({**_WINDOW_BASE, "blackout_dates": params["blackout_dates"]}, "policies.patching")
