"""Retire paths: which of a client's hosts each policy must be retired from in a run.

A policy leaves a host when the client's tier drops it, when the host leaves the policy's host
classes (or joins the inventory group ``no_<policy>``), or when the client is offboarded. The
desired state of such a host is "nothing of the policy": the next apply runs the role's
``tasks/retire.yml`` on it (``playbooks/site.yml``, extravar ``mspctl_retire``). Retire paths
are idempotent, so this is computed from the tier and the inventory alone, without remembering
where a policy once ran: a host already retired shows no change, a left-over shows as one
(``--check``, ``mspctl drift``).

Only hosts that carry a host class (servers, workstations, nas, printers, network) are retired:
a host that is only the MSP's (its monitoring or repository host) is never a client host to
strip. A host in the inventory group ``no_<policy>`` is out of mspctl's hands for that policy (a
vendor-managed server, the demo's controller machine): it is neither applied nor retired.
Windows hosts are left out: their retire paths are not written yet (each role's README). SNMP
devices (platform ``snmp``: a NAS or printer polled from the MSP monitoring host) have nothing of
any policy on them: their monitoring leaves with the client's (the monitoring role's retire path
removes the client's device targets, rules and modules from the monitoring host).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from mspctl.fingerprints import SITE_PLAYBOOK, tree_digest
from mspctl.policies import POLICIES

if TYPE_CHECKING:
    from mspctl.clients import Client
    from mspctl.inventory import InventoryView

# the extravar playbooks/site.yml reads: policy -> comma-separated host names
EXTRAVAR = "mspctl_retire"
# the inventory group no_<policy> leaves its hosts alone for that policy (mspctl.engine)
HANDS_OFF_PREFIX = "no_"


def retire_targets(
    client: Client,
    view: InventoryView,
    in_scope: dict[str, str],
    *,
    policies: tuple[str, ...] = (),
    limit: str | None = None,
) -> dict[str, list[str]]:
    """Per policy, the client's hosts to retire it from: its candidates (Linux hosts with a
    host class; network devices for a device policy) that its pattern in ``in_scope`` does not
    match and the group ``no_<policy>`` does not hold. ``policies`` narrows the question to
    those (a ``--policy`` run); ``limit`` to the hosts a ``--limit`` run reaches. Policies with
    no host to retire are left out."""
    linux = [h.name for h in client.hosts if h.classes and h.platform == "linux"]
    devices = [h.name for h in client.hosts if h.classes and h.platform == "network"]
    reachable = set(view.hosts("all", limit)) if limit else None
    out: dict[str, list[str]] = {}
    for name in policies or tuple(POLICIES):
        candidates = devices if POLICIES[name].devices else linux
        kept = set(view.hosts(in_scope[name])) if name in in_scope else set()
        hands_off = f"{HANDS_OFF_PREFIX}{name}"
        if view.has_group(hands_off):
            kept |= set(view.hosts(hands_off))
        hosts = [h for h in candidates if h not in kept and (reachable is None or h in reachable)]
        if hosts:
            out[name] = sorted(hosts)
    return out


def host_pattern(hosts: list[str]) -> str:
    """The Ansible pattern of exactly these hosts."""
    return ",".join(hosts)


def retire_fingerprints(project: Path, client: Client, policies: list[str]) -> dict[str, str]:
    """Per retired policy, a hash of what decides its retirement (the role's files, the
    playbook, the client's inventory), recorded like an applied policy's fingerprint: a left-
    over found by a check run under the same fingerprint is drift (:mod:`mspctl.drift`)."""

    inventory = [
        p for p in client.directory.rglob("*") if p.name not in ("client.yml", "waivers.yml")
    ]
    shared = tree_digest([*inventory, project / "playbooks" / SITE_PLAYBOOK])
    out = {}
    for name in policies:
        role = tree_digest(list(POLICIES[name].role_dir(project).rglob("*")))
        payload = json.dumps({"retired": name, "role": role, "shared": shared}, sort_keys=True)
        out[name] = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return out
