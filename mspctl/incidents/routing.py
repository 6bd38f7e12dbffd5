"""Which clients Alertmanager still routes: the run context of the monitoring role's pruning.

Every client's monitoring run writes its own routes on the MSP monitoring host
(``alertmanager/routes-<client>.yml``). A client that is no longer served must not keep routes
that page someone: mspctl passes the clients it serves (``mspctl_alerting_clients``) and the
role removes every other client's routes before the configuration is assembled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mspctl.workspace import Workspace


# the last answer, by what it was computed from: a fleet of runs in one process reads the
# clients once, not once per client (every client.yml and tier file, and the day, for trials)
_LAST: dict[tuple[Any, ...], list[str]] = {}


def _signature(workspace: Workspace) -> tuple[Any, ...]:
    import datetime as dt

    from mspctl.clients import CLIENT_FILE

    config = workspace.config
    files = sorted(config.inventories_dir.glob(f"*/{CLIENT_FILE}"))
    files += sorted(config.tiers_dir.glob("*.yml"))
    stamps: list[tuple[str, int | None]] = []
    for path in files:
        try:
            stamps.append((str(path), path.stat().st_mtime_ns))
        except OSError:
            stamps.append((str(path), None))
    return (dt.date.today(), *stamps)


def alerting_clients(workspace: Workspace) -> list[str]:
    """The clients of the inventories whose effective tier has the monitoring policy. A client
    whose files cannot be read now (a typo in client.yml, a tier being renamed) is kept: a
    broken file must not silence a client's alerts; only its absence or its tier does."""
    from mspctl.errors import MspctlError

    signature = _signature(workspace)
    if signature in _LAST:
        return list(_LAST[signature])
    monitored: dict[str, bool] = {}  # tier name -> has the monitoring policy
    kept = []
    for slug in workspace.clients.names():
        try:
            name = workspace.clients.get(slug).effective_tier().name
            if name not in monitored:
                tier = workspace.catalogue.get(name).tier
                monitored[name] = "monitoring" in tier.enabled_policies
        except MspctlError:
            kept.append(slug)
            continue
        if monitored[name]:
            kept.append(slug)
    _LAST.clear()
    _LAST[signature] = kept
    return list(kept)


def alerting_context(workspace: Workspace, policies: Mapping[str, str]) -> dict[str, Any]:
    """The run context of a run with the monitoring policy: ``mspctl_alerting_clients``."""
    if "monitoring" not in policies:
        return {}
    return {"mspctl_alerting_clients": alerting_clients(workspace)}
