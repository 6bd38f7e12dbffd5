"""Fleet runs (``mspctl run-due``): which client and host is due at an instant, and running the
due clients in parallel, each under its per-client run lock.

Planning is pure and in-process: for each client, its effective tier at ``now`` (a trial counts
from the client's local date), the hosts of the tier's patching policy (its host classes, minus
the group ``no_patching``) whose class window is open at ``now`` — evaluated with the project's
one window engine (``plugins/module_utils/patch_window.py``, loaded by
:func:`mspctl.policies.window_parser`) in the client's time zone with the tier's blackout dates,
picking a host's class in the same order as the patching role (servers, workstations, nas) — and
whether the nightly drift check applies (every client whose tier enables a policy).

Running: **one subprocess per client duty** (``python -m mspctl apply CLIENT --policy patching
--limit HOSTS --json``, then ``python -m mspctl drift CLIENT --json``), started from a bounded
thread pool whose threads only wait on their child. Threads running ``engine.execute`` in this
process were rejected:

- ``engine._interruptible`` installs SIGINT/SIGTERM handlers, which Python allows only in the
  main thread (``ValueError`` elsewhere); the run's cancellation (stop ansible, record
  ``aborted``) hangs on those handlers;
- ansible-runner's guard ties a run's processes to ``os.getpid()`` and ends them by that id, and
  the store's SQLite sessions, the inventory loader and Ansible's globals were never made
  thread-safe; a crash or leak in one client would take the whole fleet with it.

A child is exactly ``mspctl apply``/``drift``: same plan, same lock (busy = its exit 4), same
audit trail, same ``aborted`` recording. Its cost (~1 s of start-up) is nothing next to an
ansible run, and planning, where the fleet's overhead lies, stays in-process.

Interrupts: children share mspctl's process group, so Ctrl-C at a terminal reaches them all;
:class:`FleetRunner` also forwards SIGINT/SIGTERM to every running child as SIGTERM (for a
``kill`` of the parent alone), starts no new duty, waits for every child to record its run as
``aborted``, and the fleet exits 130 — no orphan.

Exit code (:func:`aggregate`): 130 if interrupted, else 3 if any client had bad input, else 1 if
any client failed, was unreachable or busy (its duty was not done tonight: the nightly job must
say so; ``busy`` is not 4 here, which would claim the whole fleet did not run), else 2 if a
drift check found drift, pending changes or failing controls (or a ``--check`` run found
changes), else 0.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from mspctl.engine import EXCLUDE_PREFIX
from mspctl.errors import BadInput, ExitCode, MspctlError

if TYPE_CHECKING:
    from types import ModuleType

    from mspctl import notify
    from mspctl.catalogue import ResolvedTier
    from mspctl.inventory import InventoryView
    from mspctl.store.models import PatchEvent
    from mspctl.workspace import Workspace

PATCHING = "patching"
DRIFT = "drift"
DUTIES = (PATCHING, DRIFT)
# the patching role's own order (roles/patching/vars/main.yml __patching_classes): a host in
# several classes is patched in the window of the first one that has a window
PATCH_CLASSES = ("servers", "workstations", "nas")

# what the patching role does by default with a host unreachable in its window (its default
# ``patching_missed``, roles/patching/defaults/main.yml; a test keeps the two equal)
DEFAULT_MISSED: dict[str, Any] = {
    "fail_classes": ["servers"],
    "catch_up": "next_window",
    "catch_up_days": 7,
}
WHEN_BACK = "when_back"

# client statuses, worst last
IDLE = "idle"  # nothing due
OK = "ok"
MISSED = "missed"  # hosts the tier lets miss their window were unreachable (switched off)
CHANGES = "drift"  # drift, pending changes, failing controls, or changes found by --check
FAILED = "failed"  # a host failed or was unreachable, or the duty could not complete
BUSY = "busy"
BAD_INPUT = "bad input"
ABORTED = "aborted"
_STATUS_OF_CODE = {
    ExitCode.OK: OK,
    ExitCode.DRIFT: CHANGES,
    ExitCode.FAILED: FAILED,
    ExitCode.BAD_INPUT: BAD_INPUT,
    ExitCode.BUSY: BUSY,
    ExitCode.ABORTED: ABORTED,
}


def parse_now(value: str) -> dt.datetime:
    """An ISO 8601 instant with an offset (``Z`` accepted), as aware UTC; naive is bad input."""
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        instant = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"not an ISO 8601 date and time: {value!r}", key="--now") from None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise BadInput("has no UTC offset; add one, e.g. 'Z' or '+01:00'", key="--now")
    return instant.astimezone(dt.UTC)


def parse_duties(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [name for name in names if name not in DUTIES]
    if unknown or not names:
        raise BadInput(
            f"unknown duty {', '.join(unknown) or '(none)'} (known: {', '.join(DUTIES)})",
            key="--duties",
        )
    return names


# -- planning: pure --------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientPlan:
    """What is due for one client at ``now``; ``error`` is its bad input (nothing runs)."""

    client: str
    duties: tuple[str, ...] = DUTIES  # the duties asked for (due or not)
    tier: str | None = None
    hosts: tuple[str, ...] = ()
    patching: tuple[str, ...] = ()  # hosts whose patch window is open
    patching_scope: tuple[str, ...] = ()  # hosts the tier patches at all
    drift: bool = False
    error: MspctlError | None = None
    booking: int | None = None  # an open booked maintenance made hosts due (mspctl maintenance)
    now: dt.datetime | None = None  # the instant the plan was made for (passed to the runs)
    catch_up: tuple[str, ...] = ()  # hosts patched outside their window: they missed one
    misses: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # open miss ids, by host
    classes: Mapping[str, str] = field(default_factory=dict)  # host -> servers|workstations|nas
    fail_classes: tuple[str, ...] = tuple(DEFAULT_MISSED["fail_classes"])

    @property
    def due(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if self.patching or self.catch_up:
            out[PATCHING] = [*self.patching, *self.catch_up]
        if self.drift:
            out[DRIFT] = list(self.hosts)
        return out

    @property
    def idle(self) -> bool:
        return self.error is None and not self.due

    def may_miss(self, host: str) -> bool:
        """Whether the tier lets ``host`` be unreachable during its window without failing the
        run (a workstation switched off); a host of no class may not."""
        cls = self.classes.get(host)
        return cls is not None and cls not in self.fail_classes


class Windows:
    """Parsed windows, cached by (spec, time zone): a fleet shares a handful of tiers."""

    def __init__(self, parser: ModuleType | None, project_dir: Path | None = None) -> None:
        self.parser = parser
        self.project_dir = project_dir
        self._cache: dict[str, Any] = {}

    def is_open(self, spec: Mapping[str, Any], tz: str, blackouts: Any, now: dt.datetime) -> bool:
        parser = self.parser
        if parser is None:
            raise BadInput("the project has no patch window engine", file=self.project_dir)
        full = {**spec, "timezone": tz, "blackout_dates": blackouts or []}
        key = json.dumps(full, sort_keys=True, default=str)
        window = self._cache.get(key)
        if window is None:
            try:
                window = parser.parse_window(full)
            except parser.WindowError as exc:
                raise BadInput(
                    str(exc.message), key=f"policies.patching.windows.{exc.key}"
                ) from None
            self._cache[key] = window
        return bool(parser.is_open(window, now))


def host_class(groups: Iterable[str], windows: Mapping[str, Any] | None = None) -> str | None:
    """A host's patching class: the first of PATCH_CLASSES it belongs to (that has a window,
    when ``windows`` is given), as the patching role picks it."""
    return next(
        (c for c in PATCH_CLASSES if c in groups and (windows is None or c in windows)), None
    )


def missed_rule(tier: ResolvedTier) -> dict[str, Any]:
    """The tier's ``patching.missed`` rule over the role's default."""
    block = tier.tier.enabled_policies.get(PATCHING)
    given = (block.params.get("missed") if block else None) or {}
    return {**DEFAULT_MISSED, **given}


def due_hosts(
    tier: ResolvedTier,
    hosts: Iterable[tuple[str, Sequence[str]]],
    timezone: str,
    now: dt.datetime,
    windows: Windows,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(hosts due for patching now, hosts the tier patches at all), given (host, groups)."""
    block = tier.tier.enabled_policies.get(PATCHING)
    if block is None:
        return (), ()
    specs = block.params.get("windows") or {}
    blackouts = block.params.get("blackout_dates") or []
    targets = set(block.hosts)
    scope: list[str] = []
    due: list[str] = []
    for name, groups in hosts:
        if not targets.intersection(groups) or f"{EXCLUDE_PREFIX}{PATCHING}" in groups:
            continue
        scope.append(name)
        cls = host_class(groups, specs)
        if cls is not None and windows.is_open(specs[cls], timezone, blackouts, now):
            due.append(name)
    return tuple(due), tuple(scope)


def plan_client(
    workspace: Workspace, slug: str, now: dt.datetime, duties: Sequence[str], windows: Windows
) -> ClientPlan:
    """What is due for one client at ``now``; raises MspctlError on its bad input."""
    client = workspace.clients.get(slug)
    timezone = client.data.timezone
    today = now.astimezone(ZoneInfo(timezone)).date()
    tier = workspace.catalogue.get(client.effective_tier(today).name)
    view = client.inventory_view(client.vault_password_file)
    # only the groups planning looks at, by pattern: a host's variables are not needed here
    wanted = {*PATCH_CLASSES, f"{EXCLUDE_PREFIX}{PATCHING}", *_patch_targets(tier)}
    members = {group: set(view.hosts(group)) for group in wanted if view.has_group(group)}
    hosts = [
        (host.name, tuple(group for group, names in members.items() if host.name in names))
        for host in client.hosts
    ]
    patching: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    catch_up: tuple[str, ...] = ()
    misses: dict[str, tuple[int, ...]] = {}
    booking = None
    rule = missed_rule(tier)
    if PATCHING in duties:
        patching, scope = due_hosts(tier, hosts, timezone, now, windows)
        patching, booking = _with_booking(workspace, slug, view, now, patching, scope)
        misses, catch_up = _misses(workspace, slug, scope, patching, rule, now)
    drift = DRIFT in duties and bool(tier.tier.enabled_policies) and bool(hosts)
    classes = {name: cls for name, groups in hosts if (cls := host_class(groups)) is not None}
    return ClientPlan(
        client=slug,
        duties=tuple(duties),
        tier=tier.name,
        hosts=tuple(name for name, _ in hosts),
        patching=patching,
        patching_scope=scope,
        drift=drift,
        booking=booking,
        now=now,
        catch_up=catch_up,
        misses=misses,
        classes=classes,
        fail_classes=tuple(rule["fail_classes"]),
    )


def _misses(
    workspace: Workspace,
    slug: str,
    scope: Sequence[str],
    patching: Sequence[str],
    rule: Mapping[str, Any],
    now: dt.datetime,
) -> tuple[dict[str, tuple[int, ...]], tuple[str, ...]]:
    """The open misses of the hosts the tier patches, and the hosts to catch up now: with
    ``when_back``, those whose newest miss is at most ``catch_up_days`` old (a patch in their
    own window closes their misses too)."""
    from mspctl.store.queries import open_misses

    found = {h: events for h, events in open_misses(workspace.store, slug).items() if h in scope}
    misses = {host: tuple(e.id for e in events) for host, events in found.items()}
    if rule["catch_up"] != WHEN_BACK:
        return misses, ()
    oldest = now - dt.timedelta(days=int(rule["catch_up_days"]))
    catch_up = tuple(
        host
        for host in scope
        if host in found and host not in patching and found[host][-1].at >= oldest
    )
    return misses, catch_up


def _with_booking(
    workspace: Workspace,
    slug: str,
    view: InventoryView,
    now: dt.datetime,
    patching: tuple[str, ...],
    scope: tuple[str, ...],
) -> tuple[tuple[str, ...], int | None]:
    """A booked maintenance open at ``now`` is a patch window for the hosts it names (its
    ``--hosts`` pattern) that the tier patches: they are due too, and patched with
    ``--force-window`` (the booking is the window)."""
    from mspctl.maintenance import open_booking, upcoming

    booking = open_booking(upcoming(workspace.store, slug, now), now)
    if booking is None:
        return patching, None
    named = set(view.hosts(booking.hosts or "all"))
    extra = tuple(h for h in scope if h in named and h not in patching)
    return (patching + extra, booking.id) if extra else (patching, None)


def _patch_targets(tier: ResolvedTier) -> list[str]:
    block = tier.tier.enabled_policies.get(PATCHING)
    return list(block.hosts) if block else []


def plan_fleet(
    workspace: Workspace,
    now: dt.datetime,
    *,
    clients: Sequence[str] = (),
    duties: Sequence[str] = DUTIES,
) -> list[ClientPlan]:
    """A plan per client (every client, or those named); a client's bad input is its plan's
    ``error``, never the fleet's."""
    from mspctl.policies import window_parser

    names = list(dict.fromkeys(clients)) or workspace.clients.names()
    project_dir = workspace.config.project_dir
    windows = Windows(window_parser(project_dir), project_dir)
    plans: list[ClientPlan] = []
    for slug in names:
        try:
            plans.append(plan_client(workspace, slug, now, duties, windows))
        except MspctlError as exc:
            plans.append(ClientPlan(client=slug, duties=tuple(duties), error=exc))
    return plans


# -- running: one child process per duty -----------------------------------------------------


@dataclass
class DutyResult:
    duty: str
    exit_code: int
    run_id: str | None = None
    status: str | None = None
    message: str | None = None
    failed_hosts: list[str] = field(default_factory=list)  # failed or unreachable
    unreachable_hosts: list[str] = field(default_factory=list)
    missed_hosts: list[str] = field(default_factory=list)  # unreachable, and the tier allows it
    changed_hosts: list[str] = field(default_factory=list)  # drift/pending/changed (check)
    failing: list[dict[str, Any]] = field(default_factory=list)  # failing controls

    def as_dict(self) -> dict[str, Any]:
        return {
            "duty": self.duty,
            "exit_code": self.exit_code,
            "run_id": self.run_id,
            "status": self.status,
            "message": self.message,
            "failed_hosts": self.failed_hosts,
            "unreachable_hosts": self.unreachable_hosts,
            "missed_hosts": self.missed_hosts,
            "changed_hosts": self.changed_hosts,
            "failing_controls": self.failing,
        }


@dataclass
class ClientResult:
    plan: ClientPlan
    duties: list[DutyResult] = field(default_factory=list)
    message: str | None = None
    aborted: bool = False  # not (fully) run because the fleet was interrupted

    @property
    def exit_code(self) -> int:
        if self.plan.error is not None:
            return int(self.plan.error.exit_code)
        codes = [d.exit_code for d in self.duties]
        if self.aborted:
            codes.append(ExitCode.ABORTED)
        return aggregate(codes)

    @property
    def status(self) -> str:
        if self.plan.idle:
            return IDLE
        if self.plan.error is not None:
            return BAD_INPUT
        codes = {d.exit_code for d in self.duties} | ({ExitCode.ABORTED} if self.aborted else set())
        for code in (ExitCode.ABORTED, ExitCode.BAD_INPUT, ExitCode.FAILED, ExitCode.BUSY):
            if code in codes:
                return _STATUS_OF_CODE[code]
        status = _STATUS_OF_CODE.get(ExitCode(aggregate(codes)), FAILED)
        return MISSED if status == OK and self.missed_hosts else status

    @property
    def missed_hosts(self) -> list[str]:
        """Hosts unreachable during the run whose miss the tier tolerates."""
        return sorted({h for d in self.duties for h in d.missed_hosts})

    @property
    def run_ids(self) -> list[str]:
        return [d.run_id for d in self.duties if d.run_id]

    def describe(self) -> str:
        if self.message:
            return self.message
        if self.plan.error is not None:
            return self.plan.error.message
        for duty in self.duties:
            if duty.message:
                return f"{duty.duty}: {duty.message}"
        if self.plan.idle:
            return "nothing due"
        parts = [f"{duty}: {len(hosts)} host(s)" for duty, hosts in self.plan.due.items()]
        if self.plan.catch_up:
            parts.append(f"catching up: {', '.join(self.plan.catch_up)}")
        if self.missed_hosts:
            parts.append(f"missed (unreachable): {', '.join(self.missed_hosts)}")
        runs = ", ".join(self.run_ids)
        return "; ".join(parts) + (f" (runs {runs})" if runs else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "client": self.plan.client,
            "tier": self.plan.tier,
            "status": self.status,
            "exit_code": self.exit_code,
            "due": self.plan.due,
            "booking": self.plan.booking,
            "catch_up": list(self.plan.catch_up),
            "missed": self.missed_hosts,
            "run_ids": self.run_ids,
            "duties": [d.as_dict() for d in self.duties],
            "message": self.describe(),
        }


def aggregate(codes: Iterable[int]) -> int:
    """The fleet's exit code from its clients' (see the module docstring)."""
    seen = {int(code) for code in codes}
    for code, result in (
        (ExitCode.ABORTED, ExitCode.ABORTED),
        (ExitCode.BAD_INPUT, ExitCode.BAD_INPUT),
        (ExitCode.FAILED, ExitCode.FAILED),
        (ExitCode.BUSY, ExitCode.FAILED),
        (ExitCode.DRIFT, ExitCode.DRIFT),
    ):
        if code in seen:
            return int(result)
    unknown = seen - {int(ExitCode.OK)}
    return int(ExitCode.FAILED) if unknown else int(ExitCode.OK)


def duty_command(plan: ClientPlan, duty: str, *, check: bool) -> list[str]:
    """The mspctl command line of a client's duty (global options come through the env)."""
    base = [sys.executable, "-m", "mspctl", "--quiet"]
    if duty == PATCHING:
        command = [*base, "apply", plan.client, "--policy", PATCHING]
        command += ["--limit", ",".join(plan.due[PATCHING]), "--json"]
        if plan.now is not None:
            command += ["--now", plan.now.isoformat()]
        if plan.catch_up:
            command += ["--catch-up", ",".join(plan.catch_up)]
        if plan.booking is not None:
            command.append("--force-window")
        return [*command, "--check"] if check else command
    return [*base, "drift", plan.client, "--json"]


def _last_error(stderr: str) -> str | None:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(("error:", "internal error:", "busy:")):
            return line.removeprefix("error:").strip()
    return lines[-1] if lines else None


def read_duty(duty: str, code: int, stdout: str, stderr: str) -> DutyResult:
    """A duty's result from its child's ``--json`` output and exit code."""
    result = DutyResult(duty, code)
    try:
        data = json.loads(stdout) if stdout.strip() else None
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        result.run_id = data.get("run_id")
        result.status = data.get("status")
        if duty == PATCHING:
            hosts = data.get("hosts") or {}
            result.failed_hosts = sorted(
                h for h, s in hosts.items() if s.get("failures") or s.get("unreachable")
            )
            result.unreachable_hosts = sorted(h for h, s in hosts.items() if s.get("unreachable"))
            if data.get("mode") == "check":
                result.changed_hosts = sorted(h for h, s in hosts.items() if s.get("changed"))
        else:
            result.failed_hosts = list(data.get("failed_hosts") or [])
            result.unreachable_hosts = list(data.get("unreachable_hosts") or [])
            changes = [*data.get("drift", []), *data.get("pending_changes", [])]
            result.changed_hosts = sorted({c["host"] for c in changes})
            result.failing = list(data.get("failing_controls") or [])
    if result.failed_hosts:
        unreachable = [h for h in result.failed_hosts if h in result.unreachable_hosts]
        failed = [h for h in result.failed_hosts if h not in unreachable]
        result.message = "; ".join(
            f"{what}: {', '.join(hosts)}"
            for what, hosts in (("failed", failed), ("unreachable", unreachable))
            if hosts
        )
    elif code != ExitCode.OK and (data is None or code in (ExitCode.FAILED, ExitCode.ABORTED)):
        result.message = _last_error(stderr) or f"exit code {code}"
    return result


def allow_misses(plan: ClientPlan, duty: DutyResult) -> DutyResult:
    """Hosts the tier lets be unreachable (a workstation switched off at night) are ``missed``,
    not failed: the duty's exit code and message are what they would be without them. A host
    of a class in ``fail_classes`` (a server) stays failed."""
    missed = [h for h in duty.unreachable_hosts if plan.may_miss(h)]
    if not missed:
        return duty
    duty.missed_hosts = missed
    duty.failed_hosts = [h for h in duty.failed_hosts if h not in missed]
    if duty.exit_code == ExitCode.FAILED and not duty.failed_hosts:
        changes = duty.changed_hosts or duty.failing
        duty.exit_code = int(ExitCode.DRIFT if changes else ExitCode.OK)
        duty.message = None
    return duty


def child_env(workspace: Workspace) -> dict[str, str]:
    """mspctl's environment with the workspace's settings (not on the command line, where a
    database password would show in ``ps``)."""
    config = workspace.config
    env = dict(os.environ)
    env["MSPCTL_PROJECT_DIR"] = str(config.project_dir)
    env["MSPCTL_HOME"] = str(config.home)
    env["MSPCTL_DB_URL"] = config.db_url
    env.pop("MSPCTL_PARALLEL", None)
    return env


class FleetRunner:
    """Runs client plans in a bounded pool; each client's duties in order, each a child."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        parallel: int,
        check: bool,
        nodes: Mapping[str, tuple[str, int]] | None = None,
    ) -> None:
        """``nodes``: client -> (its execution node, the node's capacity). Such a client's
        runs take one of its node's slots instead of one of the ``parallel`` controller slots
        (docs/nodes.md): the node, not the controller, runs its ansible."""
        self.env = dict(env)
        self.parallel = parallel
        self.check = check
        self.stopping = threading.Event()
        self._children: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self.nodes = dict(nodes or {})
        self._slots: dict[str | None, threading.Semaphore] = {None: threading.Semaphore(parallel)}
        for node, capacity in self.nodes.values():
            self._slots.setdefault(node, threading.Semaphore(capacity))

    def run(
        self, plans: Sequence[ClientPlan], on_done: Callable[[ClientResult], None] | None = None
    ) -> list[ClientResult]:
        results: dict[str, ClientResult] = {}
        runnable = [p for p in plans if p.error is None and not p.idle]
        for plan in plans:
            if plan not in runnable:
                results[plan.client] = ClientResult(plan)
                if on_done:
                    on_done(results[plan.client])
        # without nodes, `parallel` threads; with nodes, a thread per client (they only wait:
        # on their slot, then on their child), so a client queued for a busy node never holds
        # back a client of another node or of the controller
        threads = max(1, len(runnable)) if self.nodes else self.parallel
        with self._interrupts(), ThreadPoolExecutor(max_workers=threads) as pool:
            futures = {pool.submit(self._run_client, plan): plan for plan in runnable}
            for future in as_completed(futures):
                result = future.result()
                results[result.plan.client] = result
                if on_done:
                    on_done(result)
        return [results[plan.client] for plan in plans]

    def _run_client(self, plan: ClientPlan) -> ClientResult:
        node = self.nodes.get(plan.client, (None, 0))[0]
        with self._slots[node]:  # the controller's slots, or its node's
            return self._run_duties(plan)

    def _run_duties(self, plan: ClientPlan) -> ClientResult:
        result = ClientResult(plan)
        for duty in plan.due:
            if self.stopping.is_set():
                result.aborted = True
                break
            done = allow_misses(plan, self._run_duty(plan, duty))
            result.duties.append(done)
            if done.exit_code in (ExitCode.BUSY, ExitCode.BAD_INPUT):
                break  # the client's next duty would meet the same lock or input
        return result

    def _run_duty(self, plan: ClientPlan, duty: str) -> DutyResult:
        command = duty_command(plan, duty, check=self.check)
        with self._lock:
            if self.stopping.is_set():
                return DutyResult(duty, ExitCode.ABORTED, message="interrupted before it started")
            child = subprocess.Popen(
                command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self._children.add(child)
        try:
            stdout, stderr = child.communicate()
        finally:
            with self._lock:
                self._children.discard(child)
        return read_duty(duty, child.returncode, stdout, stderr)

    def stop(self) -> None:
        """Start no new duty and ask every running child to stop (it records ``aborted``)."""
        with self._lock:
            self.stopping.set()
            for child in self._children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)

    @contextmanager
    def _interrupts(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(_signum: int, _frame: Any) -> None:
            self.stop()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


def client_nodes(workspace: Workspace, plans: Sequence[ClientPlan]) -> dict[str, tuple[str, int]]:
    """client -> (execution node, capacity) for the runnable clients whose site has a node."""
    found: dict[str, tuple[str, int]] = {}
    for plan in plans:
        if plan.error is not None:
            continue
        try:
            node = workspace.clients.get(plan.client).data.node
        except MspctlError:
            continue
        if node is not None:
            found[plan.client] = (node.name, node.capacity)
    return found


def run_fleet(
    workspace: Workspace,
    plans: Sequence[ClientPlan],
    *,
    parallel: int,
    check: bool = False,
    on_done: Callable[[ClientResult], None] | None = None,
) -> tuple[list[ClientResult], bool]:
    """Run the due clients; returns their results and whether the fleet was interrupted."""
    runner = FleetRunner(
        child_env(workspace), parallel=parallel, check=check, nodes=client_nodes(workspace, plans)
    )
    results = runner.run(plans, on_done)
    if not check:
        record_patch_events(workspace, results)
    return results, runner.stopping.is_set()


def patch_events(result: ClientResult, recorded_at: dt.datetime) -> list[PatchEvent]:
    """The missed windows and catch-ups of a client's patching duty: a host due in its open
    window and unreachable missed it (a failure if the tier says so for its class); a host with
    open misses that the run patched caught them up, one row per miss it closes."""
    from mspctl.store.models import PatchEvent

    plan = result.plan
    duty = next((d for d in result.duties if d.duty == PATCHING), None)
    if duty is None or duty.exit_code in (ExitCode.BUSY, ExitCode.BAD_INPUT, ExitCode.ABORTED):
        return []
    at = plan.now or recorded_at
    events: list[PatchEvent] = []
    for host in plan.patching:
        if host in duty.unreachable_hosts:
            cls = plan.classes.get(host, "")
            events.append(
                PatchEvent(
                    client=plan.client,
                    host=host,
                    kind="missed",
                    host_class=cls,
                    at=at,
                    recorded_at=recorded_at,
                    run_id=duty.run_id,
                    failure=not plan.may_miss(host),
                    detail=f"unreachable during its {cls or 'patch'} window",
                )
            )
    for host in plan.due.get(PATCHING, []):
        if host in duty.failed_hosts or host in duty.unreachable_hosts:
            continue
        events += [
            PatchEvent(
                client=plan.client,
                host=host,
                kind="caught_up",
                host_class=plan.classes.get(host, ""),
                at=at,
                recorded_at=recorded_at,
                run_id=duty.run_id,
                missed_id=miss,
                failure=False,
                detail="patched outside its window"
                if host in plan.catch_up
                else "patched in its next window",
            )
            for miss in plan.misses.get(host, ())
        ]
    return events


def record_patch_events(workspace: Workspace, results: Sequence[ClientResult]) -> None:
    now = dt.datetime.now(dt.UTC)
    events = [event for result in results for event in patch_events(result, now)]
    if events:
        workspace.store.add_patch_events(events)


# -- JUnit -----------------------------------------------------------------------------------


def notification(
    results: Sequence[ClientResult], started: dt.datetime, ended: dt.datetime, code: int
) -> notify.Summary:
    """The fleet run as the MSP's summary (email, webhook): per client, hosts patched, failed and
    drifting, and failing controls. A client whose duties did not happen (bad input, busy,
    aborted) counts its due hosts as failed, so the summary never looks better than the run."""
    from mspctl import notify

    lines = []
    for result in results:
        patching = next((d for d in result.duties if d.duty == "patching"), None)
        failed = {h for d in result.duties for h in d.failed_hosts if h not in d.missed_hosts}
        if result.status in (BAD_INPUT, BUSY, ABORTED):
            failed |= {h for hosts in result.plan.due.values() for h in hosts}
        patched = (
            [h for h in result.plan.due.get(PATCHING, []) if h not in failed]
            if patching is not None and patching.exit_code in (ExitCode.OK, ExitCode.DRIFT)
            else []
        )
        drift = {h for d in result.duties if d.duty == "drift" for h in d.changed_hosts}
        missed = {
            h
            for d in result.duties
            if d.duty == PATCHING
            for h in d.unreachable_hosts
            if h in result.plan.patching
        }
        caught_up = [h for h in patched if h in result.plan.misses]
        lines.append(
            notify.ClientLine(
                client=result.plan.client,
                patched=len(patched),
                missed=len(missed),
                caught_up=len(caught_up),
                failed=len(failed),
                drift=len(drift),
                failing_controls=sum(len(d.failing) for d in result.duties),
                run_ids=tuple(result.run_ids),
            )
        )
    status: notify.Status = (
        "ok" if code == ExitCode.OK else "drift" if code == ExitCode.DRIFT else "failed"
    )
    return notify.Summary(
        title=f"mspctl fleet run: {len(results)} client(s)",
        status=status,
        started=started,
        ended=ended,
        clients=tuple(lines),
    )


def render_junit(results: Sequence[ClientResult], now: dt.datetime) -> str:
    """A testsuite per client, a testcase per host and duty: skipped = not due, failure = failed,
    unreachable, drift or failing controls; a client's bad input or busy lock is an error."""
    import xml.etree.ElementTree as ET

    from mspctl.reports.junit import xml_text

    root = ET.Element("testsuites", name=f"mspctl run-due {now.isoformat()}")
    total = 0
    for result in results:
        plan = result.plan
        suite = ET.SubElement(root, "testsuite", name=plan.client, timestamp=now.isoformat())
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

        def case(
            name: str,
            classname: str,
            counts: dict[str, int] = counts,
            suite: ET.Element = suite,
        ) -> ET.Element:
            counts["tests"] += 1
            return ET.SubElement(suite, "testcase", name=name, classname=classname)

        duties = {d.duty: d for d in result.duties}
        blocked = plan.error is not None or any(
            d.exit_code in (ExitCode.BAD_INPUT, ExitCode.BUSY, ExitCode.ABORTED)
            for d in result.duties
        )
        if blocked or result.aborted:
            counts["errors"] += 1
            ET.SubElement(
                case("run-due", f"{plan.client}.run-due"),
                "error",
                message=result.status,
                type=result.status,
            ).text = result.describe()
        if plan.error is None:
            columns = [
                (PATCHING, plan.patching_scope, {*plan.patching, *plan.catch_up}),
                (DRIFT, plan.hosts, set(plan.hosts) if plan.drift else set()),
            ]
            for duty, hosts, due in columns:
                if duty not in plan.duties:
                    continue
                ran = duties.get(duty)
                for host in hosts:
                    element = case(f"{host} {duty}", f"{plan.client}.{duty}")
                    outcome = _case_outcome(plan, ran, host, due)
                    if outcome is not None:
                        kind, message, text = outcome
                        counts["skipped" if kind == "skipped" else "failures"] += 1
                        child = ET.SubElement(element, kind, message=message)
                        if kind == "failure":
                            child.set("type", duty)
                            child.text = text
        for key, value in counts.items():
            suite.set(key, str(value))
        total += counts["tests"]
    root.set("tests", str(total))
    for element in root.iter():
        element.attrib = {key: xml_text(value) for key, value in element.attrib.items()}
        if element.text is not None:
            element.text = xml_text(element.text)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _case_outcome(
    plan: ClientPlan, ran: DutyResult | None, host: str, due: set[str]
) -> tuple[str, str, str] | None:
    """A (host, duty) test case's result element (kind, message, text); None: it passed."""
    if host not in due:
        return "skipped", "not due", ""
    if ran is None or ran.exit_code in (ExitCode.BUSY, ExitCode.ABORTED):
        return "skipped", "not run", ""
    if host in ran.missed_hosts:
        cls = plan.classes.get(host, "")
        return "skipped", f"missed: unreachable, not a failure for {cls}", ""
    if problems := _host_problems(ran, host):
        return "failure", problems[0], "\n".join(problems)
    return None


def _host_problems(duty: DutyResult, host: str) -> list[str]:
    problems: list[str] = []
    if host in duty.failed_hosts:
        problems.append(f"{duty.duty}: failed or unreachable (run {duty.run_id})")
    if host in duty.changed_hosts:
        problems.append(f"{duty.duty}: changes found (run {duty.run_id})")
    problems += [
        f"failing control {c.get('control_id')}: {c.get('title')}"
        for c in duty.failing
        if c.get("host") == host
    ]
    if not problems and duty.exit_code == ExitCode.FAILED and not duty.failed_hosts:
        problems.append(f"{duty.duty}: {duty.message or 'the run failed'}")
    return problems
