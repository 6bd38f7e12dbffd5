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


def alerting_clients(workspace: Workspace) -> list[str]:
    """The clients of the inventories whose effective tier has the monitoring policy. A client
    whose files cannot be read now (a typo in client.yml, a tier being renamed) is kept: a
    broken file must not silence a client's alerts; only its absence or its tier does."""
    from mspctl.errors import MspctlError

    kept = []
    for slug in workspace.clients.names():
        try:
            tier = workspace.catalogue.get(workspace.clients.get(slug).effective_tier().name)
        except MspctlError:
            kept.append(slug)
            continue
        if "monitoring" in tier.tier.enabled_policies:
            kept.append(slug)
    return kept


def alerting_context(workspace: Workspace, policies: Mapping[str, str]) -> dict[str, Any]:
    """The run context of a run with the monitoring policy: ``mspctl_alerting_clients``."""
    if "monitoring" not in policies:
        return {}
    return {"mspctl_alerting_clients": alerting_clients(workspace)}
