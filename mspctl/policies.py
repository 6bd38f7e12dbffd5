"""The policy registry: which policies exist, which role implements each, and its inputs.

A policy in a tier is ``{enabled, hosts, <parameters>}``. Each parameter ``p`` of policy ``x``
becomes the role variable ``x_p`` (geerlingguy-style prefixes) and is validated against the
role's ``meta/argument_specs.yml``, so the role's spec is the single source of truth for types.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mspctl.errors import BadInput

HOST_CLASSES = ("servers", "workstations", "nas", "printers", "network")


@dataclass(frozen=True)
class PolicySpec:
    name: str
    role: str
    description: str

    def role_dir(self, project_dir: Path) -> Path:
        return project_dir / "roles" / self.role


POLICIES: dict[str, PolicySpec] = {
    spec.name: spec
    for spec in (
        PolicySpec("assets", "assets", "Hardware/software inventory and warranty data."),
        PolicySpec("patching", "patching", "Updates in patch windows, with a reboot policy."),
        PolicySpec("backup_agent", "backup_agent", "restic backups with restore tests."),
        PolicySpec("monitoring", "monitoring", "Node exporter, health metrics, MSP alert hook."),
        PolicySpec("printers", "printers", "CUPS queues from the client inventory."),
        PolicySpec("baseline", "baseline", "Declarative controls a tier adds without Python."),
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
    import yaml

    spec_file = role_dir / "meta" / "argument_specs.yml"
    if not spec_file.is_file():
        return None
    data = yaml.safe_load(spec_file.read_text(encoding="utf-8")) or {}
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
    unsupported = sorted(".".join(map(str, p)) if isinstance(p, tuple) else str(p)
                         for p in result.unsupported_parameters)
    if unsupported:
        key = unsupported[0].removeprefix(f"{spec.role}_")
        raise BadInput("unknown parameter", file=file, key=f"policies.{policy}.{key}")
    if result.error_messages:
        message = result.error_messages[0].replace(f"{spec.role}_", "")
        raise BadInput(message, file=file, key=f"policies.{policy}")
