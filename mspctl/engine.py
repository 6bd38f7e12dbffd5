"""Applying a client's tier: plan (pure validation), then execute (ansible + run store).

``plan`` checks every input and touches nothing, so bad input changes nothing and records
nothing. ``execute`` records the run before ansible starts (status ``running``) and completes
it afterwards, also when the run is interrupted (status ``aborted``, with what finished).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
import secrets
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mspctl import __version__
from mspctl.errors import BadInput, ExitCode
from mspctl.fingerprints import SITE_PLAYBOOK, policy_fingerprints
from mspctl.incidents.routing import alerting_context
from mspctl.maintenance import upcoming, with_bookings
from mspctl.policies import POLICIES
from mspctl.results import (
    collect_assets,
    collect_findings,
    host_rows,
    masker,
    remember_secrets,
    task_rows,
)
from mspctl.runner import (
    Engine,
    NodeTarget,
    PlaybookSpec,
    ProgressEvent,
    RunResult,
    resolve_engine,
    run_playbook,
)

if TYPE_CHECKING:
    from mspctl.catalogue import ResolvedTier
    from mspctl.clients import Client
    from mspctl.inventory import InventoryView
    from mspctl.workspace import Workspace

# an inventory group no_<policy> leaves its hosts out of that policy (a vendor-managed server,
# the demo's controller machine); the run still records the exclusion in its host pattern
EXCLUDE_PREFIX = "no_"


@dataclass(frozen=True)
class ApplyRequest:
    client: str
    tier: str | None = None
    check: bool = False
    diff: bool = False
    limit: str | None = None
    policies: tuple[str, ...] = ()
    engine: Engine = Engine.MITOGEN
    forks: int = 10
    vault_password_file: Path | None = None
    force_window: bool = False  # patch now, outside the patch window (a technician's decision)
    wait: bool = False  # another run of the client in progress: wait for it instead of exit 4
    now: dt.datetime | None = None  # evaluate patch windows and bookings at this instant
    catch_up: tuple[str, ...] = ()  # hosts patched outside their window: they missed it
    retire_all: bool = False  # offboarding: every policy retired from every host (mspctl.retire)


@dataclass(frozen=True)
class Plan:
    request: ApplyRequest
    client: Client
    tier: ResolvedTier
    tier_source: str  # contract | trial | override
    policies: dict[str, str]  # policy -> ansible host pattern
    warnings: tuple[str, ...] = ()
    extravars: dict[str, Any] = field(default_factory=dict)
    vault_password_file: Path | None = None
    fingerprints: dict[str, str] = field(default_factory=dict)
    secret_values: frozenset[str] = field(default_factory=frozenset, repr=False)
    retire: dict[str, list[str]] = field(default_factory=dict)  # policy -> hosts (mspctl.retire)

    @property
    def mode(self) -> str:
        return "check" if self.request.check else "apply"

    @property
    def full(self) -> bool:
        """Every host and every policy of the tier: the run speaks for the whole client."""
        return not self.request.limit and not self.request.policies


@dataclass(frozen=True)
class Outcome:
    run_id: str
    result: RunResult
    plan: Plan

    @property
    def exit_code(self) -> ExitCode:
        if self.result.status == "aborted":
            return ExitCode.ABORTED
        if self.result.failed_hosts or self.result.status != "successful":
            return ExitCode.FAILED
        if self.plan.request.check and self.result.changed:
            return ExitCode.DRIFT
        return ExitCode.OK


def plan(workspace: Workspace, request: ApplyRequest, *, now: dt.datetime | None = None) -> Plan:
    """Validate the request against the client, its contract and the catalogue. No side effects
    (it reads the client's maintenance bookings from the store, after every check passed)."""
    client = workspace.clients.get(request.client)
    effective = client.effective_tier()
    tier_name = request.tier or effective.name
    resolved = workspace.catalogue.get(tier_name)
    warnings: list[str] = []
    if tier_name != effective.name:
        source = "override"
        warnings.append(
            f"applying tier {tier_name} to {client.slug}, whose effective tier is "
            f"{effective.name} ({effective.reason}); the run records the override"
        )
    else:
        source = "trial" if effective.trial else "contract"
    enabled = resolved.tier.enabled_policies
    for name in request.policies:
        if name not in POLICIES:
            raise BadInput(
                f"unknown policy {name!r} (known: {', '.join(sorted(POLICIES))})", key="--policy"
            )
        if name not in enabled:
            raise BadInput(f"policy {name!r} is not part of tier {tier_name}", key="--policy")
    chosen = () if request.retire_all else (request.policies or tuple(enabled))
    project = workspace.config.project_dir
    policies = {name: resolved.tier.host_pattern(name) for name in chosen}
    vault_file = workspace.vault_password_file(client.slug, request.vault_password_file)
    secret_values = _check_inventory(project, client, policies, request.limit, vault_file, warnings)
    extravars = run_context(workspace, client, resolved, tier_name, policies)
    if request.force_window:
        if "patching" not in policies:
            raise BadInput("patching is not part of this run", key="--force-window")
        extravars["patching_force"] = True
        warnings.append("--force-window: patching ignores the patch windows in this run")
    if request.catch_up:
        if "patching" not in policies:
            raise BadInput("patching is not part of this run", key="--catch-up")
        unknown = sorted(set(request.catch_up) - {h.name for h in client.hosts})
        if unknown:
            raise BadInput(f"not a host of {client.slug}: {', '.join(unknown)}", key="--catch-up")
        extravars["patching_catch_up_hosts"] = list(request.catch_up)
        warnings.append(f"catching up missed patch windows: {', '.join(request.catch_up)}")
    instant = request.now or now
    if request.now is not None:
        extravars["patching_now"] = request.now.isoformat()
    fingerprints = policy_fingerprints(project, client, resolved, policies)
    view = client.inventory_view(vault_file)
    retire = _retire(project, client, view, request, policies, extravars, fingerprints)
    extravars["mspctl_maintenance_windows"] = with_bookings(
        extravars["mspctl_maintenance_windows"],
        upcoming(workspace.store, client.slug, instant or dt.datetime.now(dt.UTC)),
        view.hosts,
    )
    # last, once the input is valid: the engine this run really gets (mitogen -> tuned when
    # Mitogen cannot load with this ansible-core), said once
    engine, why = resolve_engine(request.engine, workspace.config.home / "cache")
    if why is not None:
        warnings.append(why)
        request = replace(request, engine=engine)
    return Plan(
        request,
        client,
        resolved,
        source,
        policies,
        tuple(warnings),
        extravars,
        vault_file,
        fingerprints,
        secret_values,
        retire=retire,
    )


def _retire(
    project: Path,
    client: Client,
    view: InventoryView,
    request: ApplyRequest,
    policies: dict[str, str],
    extravars: dict[str, Any],
    fingerprints: dict[str, str],
) -> dict[str, list[str]]:
    """The hosts each policy leaves in this run (mspctl.retire), passed to the playbook and
    fingerprinted like applied policies, so their left-overs show as drift."""
    from mspctl.retire import EXTRAVAR, host_pattern, retire_fingerprints, retire_targets

    retire = retire_targets(client, view, policies, policies=request.policies, limit=request.limit)
    if retire:
        extravars[EXTRAVAR] = {name: host_pattern(hosts) for name, hosts in retire.items()}
        gone = [name for name in retire if name not in fingerprints]
        fingerprints.update(retire_fingerprints(project, client, gone))
    return retire


def run_context(
    workspace: Workspace,
    client: Client,
    resolved: ResolvedTier,
    tier_name: str,
    policies: dict[str, str],
) -> dict[str, Any]:
    """The extra variables every run of a client's tier gets, before the run's own options
    (a forced window, catch-up, bookings, retirement): also what ``mspctl awx export`` gives a
    job template."""
    return {
        "mspctl_client": client.slug,
        "mspctl_tier": tier_name,
        "mspctl_timezone": client.data.timezone,
        "mspctl_contract": resolved.tier.contract.model_dump(mode="json", exclude_none=True),
        "mspctl_policies": policies,
        "mspctl_maintenance_windows": maintenance_windows(resolved),
        # the clients Alertmanager still routes
        **alerting_context(workspace, policies),
    }


def maintenance_windows(tier: ResolvedTier) -> dict[str, Any]:
    """The tier's patch windows by host class, blackout dates included: the run context from
    which monitoring silences a host's alerts while it may be patched and rebooted. ``plan``
    adds the client's booked maintenance under ``all`` (``maintenance.with_bookings``)."""
    patching = tier.tier.enabled_policies.get("patching")
    if patching is None:
        return {}
    params = patching.params
    blackouts = params.get("blackout_dates") or []
    return {
        cls: {**spec, "blackout_dates": blackouts} if blackouts else dict(spec)
        for cls, spec in (params.get("windows") or {}).items()
    }


def _check_inventory(
    project: Path,
    client: Client,
    policies: dict[str, str],
    limit: str | None,
    vault_file: Path | None,
    warnings: list[str],
) -> frozenset[str]:
    """What only the evaluated inventory tells: the limit matches, secrets are defined.
    Returns the secrets' values, so they can be masked in anything mspctl records."""
    from mspctl.inventory import secrets_of

    view = client.inventory_view(vault_file)
    for name, pattern in list(policies.items()):  # group no_<policy>: left out of that policy
        if view.has_group(f"{EXCLUDE_PREFIX}{name}"):
            policies[name] = f"{pattern}:!{EXCLUDE_PREFIX}{name}"
    for name, pattern in list(policies.items()):  # SNMP devices run no agent (docs/devices.md)
        if pattern and name != "monitoring" and view.has_group("snmp"):
            policies[name] = f"{pattern}:!snmp"
    if limit and not view.hosts("all", limit):
        raise BadInput(f"matches no host of client {client.slug}", key=f"--limit {limit}")
    targets = {name: view.hosts(pattern, limit) for name, pattern in policies.items()}
    idle = sorted(name for name, hosts in targets.items() if not hosts)
    if idle:
        warnings.append(f"no host of {client.slug} in scope for policy {', '.join(idle)}")
    _check_windows(view, targets)
    secret_values = view.check_secrets(secrets_of(project, policies), targets)
    connections = view.check_connections(h for hosts in targets.values() for h in hosts)
    warnings += connections.warnings
    remember_secrets(secret_values | connections.secrets)
    return secret_values | connections.secrets


def _check_windows(view: InventoryView, targets: dict[str, list[str]]) -> None:
    """A Windows host in scope of a policy that has no Windows path yet is bad input: the run
    would fail on it; the group no_<policy> leaves it out knowingly."""
    from mspctl.connections import is_winrm

    for name, hosts in targets.items():
        if POLICIES[name].windows:
            continue
        windows = [h for h in hosts if is_winrm(view.host_vars(h))]
        if windows:
            raise BadInput(
                f"policy {name} has no Windows support yet: {', '.join(windows)} (put them in "
                f"the inventory group {EXCLUDE_PREFIX}{name}; docs/windows.md)",
                file=view.display_dir,
                key=f"{EXCLUDE_PREFIX}{name}",
            )


def new_run_id(now: dt.datetime) -> str:
    return f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def execute(
    workspace: Workspace,
    planned: Plan,
    *,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
    playbook: str = SITE_PLAYBOOK,
) -> Outcome:
    """Run the plan through ansible-runner and record it in the store, under the client's run
    lock (busy: exit 4, or ``request.wait``; ``on_wait`` hears once that the run waits).
    ``on_notice`` hears what a technician should know about ansible itself (:func:`notices`)."""
    from mspctl.store import locks
    from mspctl.store.models import Run

    config = workspace.config
    node = _node_target(workspace, planned)  # a site's execution node, or None: here
    if node is not None:  # the node has no Mitogen: it runs the tuned engine
        planned = replace(planned, request=replace(planned.request, engine=Engine.TUNED))
    started = dt.datetime.now(dt.UTC)
    run_id = new_run_id(started)
    private_dir = config.runs_dir / run_id
    request = planned.request
    store = workspace.store
    user = os.environ.get("SUDO_USER") or _user()
    locks.hold(
        store,
        planned.client.slug,
        run_id,
        user,
        wait=request.wait,
        on_wait=(lambda holder: on_wait(f"waiting for {holder.describe()}")) if on_wait else None,
    )
    store.add_run(
        Run(
            id=run_id,
            client=planned.client.slug,
            tier=planned.tier.name,
            contract_tier=planned.client.data.contract.tier,
            tier_source=planned.tier_source,
            mode=planned.mode,
            diff=request.diff,
            user=user,
            pid=os.getpid(),
            controller=socket.gethostname(),
            started_at=started,
            status="running",
            limit=request.limit,
            policies=sorted(planned.policies),
            engine=request.engine.value,
            artifacts_dir=str(private_dir),
            mspctl_version=__version__,
            fingerprints=planned.fingerprints,
            full=planned.full,
            node=node.name if node is not None else None,
        )
    )
    tier_inventory = _write_tier_inventory(private_dir, planned.tier)  # no folder without a row
    spec = PlaybookSpec(
        playbook=config.playbooks_dir / playbook,
        inventories=(tier_inventory, planned.client.inventory),
        private_data_dir=private_dir,
        ident=run_id,
        project_dir=config.project_dir,
        extravars=planned.extravars,
        limit=request.limit,
        check=request.check,
        diff=request.diff or request.check,
        engine=request.engine,
        forks=request.forks,
        fact_cache_dir=config.home / "facts",
        vault_password_file=planned.vault_password_file,
        node=node,
    )
    with _interruptible() as interrupted:
        result = run_playbook(spec, on_progress=on_progress, cancelled=interrupted)
    if interrupted():
        result.status = "aborted"
    mask = masker(planned.secret_values)
    store.finish_run(
        run_id,
        status=result.status,
        rc=result.rc,
        hosts=host_rows(result),
        tasks=task_rows(result, mask),
        findings=collect_findings(result, mask),
        assets=collect_assets(result),
        keep_in=private_dir,
        reason=result.reason,
    )
    _save_configs(workspace, planned, run_id, started, result, mask)
    if on_notice is not None:
        for notice in notices(result, config.home / "notices"):
            on_notice(notice)
        if result.reason:  # outside ansible: an execution node lost mid-run
            on_notice(result.reason)
    return Outcome(run_id, result, planned)


def _node_target(workspace: Workspace, planned: Plan) -> NodeTarget | None:
    """The execution node of the client's site (checked: reachable, same versions as here),
    or None when the controller runs the client's hosts itself."""
    if planned.client.data.node is None:
        return None
    from mspctl import nodes

    nodes.require_ready(workspace.config, planned.client.data.node)
    view = planned.client.inventory_view(planned.vault_password_file)
    return nodes.target(workspace.config, planned.client, view.hosts("all", planned.request.limit))


def _save_configs(
    workspace: Workspace,
    planned: Plan,
    run_id: str,
    started: dt.datetime,
    result: RunResult,
    mask: Callable[[Any], Any],
) -> None:
    """Network devices' configurations returned by the run, stored as their new versions
    (deduplicated: an unchanged configuration stores nothing)."""
    from mspctl.netconfigs import configs_of

    configs = configs_of(result)
    if configs:
        workspace.netconfigs.save(
            planned.client.slug, mask(configs), run_id=run_id, mode=planned.mode, when=started
        )


def notices(result: RunResult, seen_dir: Path) -> list[str]:
    """What ansible warned about, in words for a technician. Mitogen's strategy deprecation
    (every third-party strategy is deprecated since ansible-core 2.19, with no removal version)
    is explained once per ansible-core version and state directory, never on every run; any
    other deprecation is shown on each run: it comes from the client's files or from mspctl, and
    someone should fix it."""
    from importlib import metadata

    from mspctl.config import private_dir

    found = [f"ansible deprecation: {text}" for text in result.deprecations]
    if result.mitogen_deprecated:
        version = metadata.version("ansible-core")
        seen = seen_dir / f"mitogen-strategy-ansible-core-{version}"
        if not seen.exists():
            found.append(
                f"ansible-core {version} deprecates strategy plugins from outside ansible, and "
                "mspctl's default engine (Mitogen) is one. Nothing to do: runs "
                "are unaffected, and if a later ansible-core stops loading it, mspctl uses the "
                "tuned engine by itself. This note is shown once per ansible-core version."
            )
            with contextlib.suppress(OSError):
                private_dir(seen_dir)
                seen.touch()
    return found


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _write_tier_inventory(private_dir: Path, tier: ResolvedTier) -> Path:
    """The tier's role variables as ``all`` group vars: the lowest inventory precedence, so the
    client's group_vars and host_vars override them."""
    import yaml

    target = private_dir / "mspctl" / "tier.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    chain = " -> ".join(tier.chain)
    header = f"# Role variables of tier {tier.name} ({chain}), written by mspctl\n"
    body = yaml.safe_dump({"all": {"vars": tier.tier.role_vars()}}, sort_keys=True)
    target.write_text(header + body, encoding="utf-8")
    return target


@contextmanager
def _interruptible() -> Iterator[Callable[[], bool]]:
    """SIGINT and SIGTERM ask ansible-runner to stop instead of killing mspctl mid-write."""
    flag = {"set": False}

    def handler(signum: int, _frame: Any) -> None:
        flag["set"] = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: flag["set"]
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
