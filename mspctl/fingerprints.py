"""Policy fingerprints: what decides a policy's desired state, hashed.

A run records the fingerprint of each policy it ran; a change found by a check run whose
fingerprint equals that of the last successful apply is drift (the host moved away), otherwise
it is a pending intentional change (see :mod:`mspctl.drift`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from mspctl.policies import POLICIES

if TYPE_CHECKING:
    from mspctl.catalogue import ResolvedTier
    from mspctl.clients import Client

SITE_PLAYBOOK = "site.yml"


def tree_digest(paths: list[Path]) -> str:
    """A hash of these files' names and contents (folders and missing paths are skipped)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in paths if p.is_file()):
        digest.update(f"{path.name}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def policy_fingerprints(
    project: Path, client: Client, tier: ResolvedTier, policies: dict[str, str]
) -> dict[str, str]:
    """Per policy, a hash of what decides its desired state: the tier's values and host
    classes, the role's files, the playbook and the client's inventory (not its contract,
    contacts or waivers). Unchanged since the last apply means a change found now is drift."""

    inventory = [
        p for p in client.directory.rglob("*") if p.name not in ("client.yml", "waivers.yml")
    ]
    shared = tree_digest(
        [*inventory, project / "playbooks" / SITE_PLAYBOOK, *(project / "plugins").rglob("*.py")]
    )
    out = {}
    for name in policies:
        role_files = list(POLICIES[name].role_dir(project).rglob("*"))
        block = tier.tier.policies[name].model_dump(mode="json")
        payload = json.dumps(
            {"tier": block, "role": tree_digest(role_files), "shared": shared}, sort_keys=True
        )
        out[name] = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return out
