"""The one typed wall around ansible-runner. Nothing else in mspctl imports ``ansible_runner``.

``run_playbook`` takes a :class:`PlaybookSpec`, runs it in its own private data directory (kept
as the run's audit trail, in ansible-runner's artifact layout) and returns a :class:`RunResult`
built from structured events only — never from console text.

Processes. ansible-runner starts ``ansible-playbook`` through pexpect in a session of its own;
on cancel it SIGKILLs that process group only, so the children that left it (mitogen's
contexts and their commands) survived every interrupt. Here every process of a run carries
``MSPCTL_RUN_ID=<run id>`` in its environment (inherited by all descendants, whatever session
or process group they move to), and :func:`end_run_processes` finds them in ``/proc``, sends
SIGTERM, waits a grace period, SIGKILLs what is left and checks that nothing remains. The
playbook is started under a small :func:`guard` process that the kernel signals when mspctl
dies (``PR_SET_PDEATHSIG``), so a SIGKILLed mspctl still takes every process of its run down;
if even the guard is SIGKILLed, what is left is ended when the next mspctl command reconciles
the run (:mod:`mspctl.store`). A process started with an emptied environment escapes the
marker (``sudo`` with ``env_reset`` for a local ``become``); ansible and mitogen keep it.

Engines. ``mitogen`` is ansible-core's ``free`` strategy driven by Mitogen, a third-party
strategy plugin: ansible-core 2.19+ marks every strategy outside ``ansible.builtin`` deprecated
(with no removal version). :func:`resolve_engine` checks, in a fresh Python, that Mitogen loads
with this ansible-core; when it does not (a future ansible-core, a broken install) the run uses
``tuned`` instead and says why once. A successful check is remembered per Python, ansible-core,
Mitogen and install (``cache_dir``), so it costs one start of Python per upgrade, not per run.

Deprecations. Every ansible deprecation warning of a run is in :attr:`RunResult.deprecations`
(from ``event_data.res.deprecations`` of task results and from the ``[DEPRECATION WARNING]``
lines ansible-runner records in its events, where ansible-core's own deprecations only exist),
except Mitogen's strategy deprecation above, which is :attr:`RunResult.mitogen_deprecated`.

Secrets. ansible-runner hands ansible (and writes to ``artifacts/<id>/command``) its whole
environment; mspctl's own settings (``MSPCTL_*``, the database URL), libpq's ``PG*`` and any
variable named like a password, secret or token are removed from it first (:func:`child_env`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any


class Engine(StrEnum):
    """How ansible talks to hosts. ``mitogen`` is fastest; ``stock`` is ansible's defaults."""

    MITOGEN = "mitogen"  # mitogen_free strategy + everything in TUNED
    TUNED = "tuned"  # SSH pipelining, ControlPersist, free strategy, fact cache, more forks
    STOCK = "stock"  # ansible-playbook as shipped (the benchmark baseline)


@dataclass(frozen=True)
class PlaybookSpec:
    playbook: Path
    inventories: Sequence[Path]
    private_data_dir: Path
    ident: str
    project_dir: Path
    extravars: Mapping[str, Any] = field(default_factory=dict)
    limit: str | None = None
    check: bool = False
    diff: bool = False
    tags: Sequence[str] = ()
    forks: int = 10
    engine: Engine = Engine.MITOGEN
    fact_cache_dir: Path | None = None
    vault_password_file: Path | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    node: NodeTarget | None = None  # stream the job to this execution node (docs/nodes.md)


@dataclass(frozen=True)
class NodeTarget:
    """An execution node a job is streamed to: ``ssh`` is the whole command up to the
    destination (host key pinned, batch mode, keepalives: mspctl.nodes builds it), ``path``
    the node's mspctl directory (``venv/``, ``collections/``, ``facts/``). ``hosts`` are the
    hosts in scope, marked unreachable when the node drops mid-run. ``hosts_key`` is the
    private key for the site's hosts, sent inside the job (ssh-agent on the node)."""

    name: str
    ssh: Sequence[str]
    path: str
    hosts: Sequence[str] = ()
    hosts_key: str | None = field(default=None, repr=False)


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one task on one host."""

    host: str
    task: str
    role: str | None
    action: str
    status: str  # ok | changed | failed | unreachable | skipped
    changed: bool
    message: str | None
    diff: list[dict[str, Any]]  # as ansible returns it, already censored by no_log
    result: dict[str, Any]  # the module's return value (res), censored by no_log
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class ProgressEvent:
    """What the live display needs: who, which task, and the outcome when there is one."""

    kind: str  # task_start | result | play_start | stats
    host: str | None
    task: str | None
    status: str | None = None


@dataclass
class RunResult:
    status: str  # successful | failed | aborted | timeout
    rc: int
    hosts: dict[str, HostStats]
    tasks: list[TaskResult]
    artifacts_dir: Path
    survivors: list[int] = field(default_factory=list)  # pids that outlived SIGKILL (should be [])
    deprecations: list[str] = field(default_factory=list)  # ansible's, Mitogen's strategy excepted
    mitogen_deprecated: bool = False  # ansible-core warned that Mitogen's strategy is third-party
    reason: str | None = None  # why the run failed outside ansible (an execution node dropped)
    node: str | None = None  # the execution node that ran it, None: this controller

    @property
    def changed(self) -> int:
        return sum(s.changed for s in self.hosts.values())

    @property
    def failed_hosts(self) -> list[str]:
        return sorted(h for h, s in self.hosts.items() if s.failed or s.unreachable)


_RESULT_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}


def engine_env(engine: Engine, *, forks: int, fact_cache_dir: Path | None) -> dict[str, str]:
    """Environment that tunes ansible for an engine (on top of the project's ansible.cfg)."""
    if engine is Engine.STOCK:
        return {}
    env = {
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s",
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_STRATEGY": "free",
        "ANSIBLE_GATHERING": "smart",
    }
    if fact_cache_dir is not None:
        env |= {
            "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile",
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(fact_cache_dir),
            "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "3600",
        }
    if engine is Engine.MITOGEN:
        strategy_dir = mitogen_strategy_dir()
        if strategy_dir is not None:
            env |= {
                "ANSIBLE_STRATEGY_PLUGINS": str(strategy_dir),
                "ANSIBLE_STRATEGY": "mitogen_free",
            }
    return env


def mitogen_strategy_dir() -> Path | None:
    """Mitogen's strategy plugins, or None when mitogen is not installed (tuned fallback)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("ansible_mitogen")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "plugins" / "strategy"


# ansible-core's words for Mitogen's strategy (2.19 to 2.21): any strategy outside ansible.builtin
MITOGEN_DEPRECATION = "strategy plugins not included in ansible.builtin"
_PROBE_TIMEOUT = 120.0


def mitogen_problem(cache_dir: Path | None = None) -> str | None:
    """Why Mitogen's ``mitogen_free`` strategy cannot load with this ansible-core, or None.

    The strategy file is run in a fresh Python of this environment, as ansible-playbook loads
    it (ansible's free strategy underneath, Mitogen's release check included): a real import, so
    an unsupported ansible-core or a broken install is found before the run, not as a failed
    run. A success is remembered in ``cache_dir`` under a key of the Python, ansible-core and
    Mitogen versions and the install's path and time, so the check runs once per upgrade."""
    import subprocess
    from importlib import metadata

    strategy_dir = mitogen_strategy_dir()
    strategy = strategy_dir / "mitogen_free.py" if strategy_dir is not None else None
    if strategy_dir is None or strategy is None or not strategy.is_file():
        return "mitogen is not installed" if strategy is None else f"{strategy} is missing"
    try:
        versions = f"ansible-core {metadata.version('ansible-core')}, " + (
            f"mitogen {metadata.version('mitogen')}"
        )
        installed = strategy_dir.parent.parent.joinpath("__init__.py").stat().st_mtime_ns
    except (metadata.PackageNotFoundError, OSError) as exc:
        return f"mitogen is not installed properly ({exc})"
    key = f"{sys.executable}|{sys.version}|{versions}|{strategy_dir}|{installed}\n"
    remembered = cache_dir / "mitogen-loads" if cache_dir is not None else None
    with contextlib.suppress(OSError):
        if remembered is not None and remembered.read_text(encoding="utf-8") == key:
            return None
    probe = "import runpy, sys; runpy.run_path(sys.argv[1])"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", probe, str(strategy)],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
            env=child_env(os.environ),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"checking it failed ({exc})"
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        return f"{versions}: {lines[-1] if lines else f'exit status {proc.returncode}'}"
    if remembered is not None:
        with contextlib.suppress(OSError):
            _private_dirs(remembered.parent)
            remembered.write_text(key, encoding="utf-8")
    return None


def resolve_engine(engine: Engine, cache_dir: Path | None = None) -> tuple[Engine, str | None]:
    """The engine a run really uses, and why it differs from the one asked for (or None):
    ``mitogen`` becomes ``tuned`` when Mitogen cannot load (:func:`mitogen_problem`)."""
    if engine is not Engine.MITOGEN:
        return engine, None
    problem = mitogen_problem(cache_dir)
    if problem is None:
        return engine, None
    return Engine.TUNED, (
        f"the mitogen engine cannot load ({problem}); this run uses the tuned engine instead: "
        "same result, slower. Reinstall mitogen, or choose --engine tuned to skip this check"
    )


def _command_line(spec: PlaybookSpec) -> list[str]:
    args: list[str] = []
    if spec.check:
        args.append("--check")
    if spec.diff:
        args.append("--diff")
    if spec.tags:
        args += ["--tags", ",".join(spec.tags)]
    if spec.vault_password_file is not None:
        args += ["--vault-password-file", str(spec.vault_password_file)]
    return args


_ROOT = Path(__file__).resolve().parent.parent  # where the mspctl package is imported from
RUN_MARKER = "MSPCTL_RUN_ID"
GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL when a run is cancelled
_SECRET_NAME = re.compile(r"^(MSPCTL_|PG)|PASSWORD|PASSWD|SECRET|TOKEN", re.IGNORECASE)
# how the guard is started: this very module, from where mspctl was imported
_GUARD = (
    "import sys; sys.path.insert(0, {root!r}); from mspctl.runner import guard; guard(sys.argv[1:])"
)


def guard(argv: Sequence[str]) -> None:  # pragma: no cover - runs in its own process
    """``guard MSPCTL_PID RUN_ID COMMAND...``: the process ansible-runner starts instead of
    ansible-playbook. It asks the kernel for SIGTERM when mspctl dies (``PR_SET_PDEATHSIG``,
    even when mspctl is SIGKILLed), starts COMMAND and passes its exit status on. On SIGTERM it
    ends every process of the run (:func:`end_run_processes`: mitogen's contexts, which leave
    the playbook's session, included) and dies of that signal."""
    import ctypes

    parent, ident, command = int(argv[0]), argv[1], list(argv[2:])
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # mspctl died before the prctl
        os._exit(143)
    child = os.fork()
    if child == 0:
        os.execvp(command[0], command)  # noqa: S606 - the playbook command, no shell

    def end(signum: int, _frame: Any) -> None:
        end_run_processes(ident, grace=GRACE_SECONDS, spare=child)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, end)
    signal.signal(signal.SIGINT, end)
    _pid, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # killed by a signal: die of it too, as ansible-runner expects
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


def child_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment ansible gets: without mspctl's settings and anything named like a secret
    (a ``*_FILE`` path is kept: it names a file, it is not the secret)."""
    return {
        k: v
        for k, v in environ.items()
        if not _SECRET_NAME.search(k) or (k.endswith("_FILE") and not k.startswith("MSPCTL_"))
    }


def run_processes(ident: str) -> list[int]:
    """Live processes (zombies excluded) whose environment carries this run's marker."""
    needle = f"{RUN_MARKER}={ident}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path("/proc", entry, "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry))
    return found


def _signal_all(pids: Sequence[int], signum: int) -> None:
    own_group = os.getpgrp()
    for pid in pids:
        try:
            group = os.getpgid(pid)
            if group != own_group:
                os.killpg(group, signum)
            os.kill(pid, signum)
        except OSError:
            continue


def end_run_processes(
    ident: str, grace: float = GRACE_SECONDS, spare: int | None = None
) -> list[int]:
    """SIGTERM every process of the run, SIGKILL what is left after ``grace`` seconds; returns
    the pids still alive after that (none, unless a process is stuck in the kernel). ``spare``:
    a child of the caller, reaped here so that it does not linger as a zombie."""

    def alive() -> list[int]:
        if spare is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(spare, os.WNOHANG)
        return run_processes(ident)

    pids = alive()
    if not pids:
        return []
    _signal_all(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = alive()
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline:
        _signal_all(pids, signal.SIGKILL)
        time.sleep(0.1)
        pids = alive()
    return pids


def _private_dirs(*paths: Path | None) -> None:
    from mspctl.config import private_dir

    for path in paths:
        if path is not None:
            private_dir(path)


def run_playbook(
    spec: PlaybookSpec,
    *,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> RunResult:
    """Run a playbook and collect per-host stats and per-task results from runner events:
    here, or streamed to ``spec.node`` (:func:`_run_streamed`), with the same handlers."""
    from ansible_runner.interface import init_runner

    _private_dirs(spec.private_data_dir.parent, spec.private_data_dir, spec.fact_cache_dir)
    tasks: list[TaskResult] = []
    stats: dict[str, HostStats] = {}
    deprecations: dict[str, None] = {}  # ordered, without repeats

    def handle(event: dict[str, Any]) -> bool:
        name = event.get("event", "")
        data = event.get("event_data", {})
        for text in _deprecations(event):
            deprecations.setdefault(text)
        if name == "playbook_on_task_start" and on_progress:
            on_progress(ProgressEvent("task_start", None, data.get("task")))
        elif name in _RESULT_EVENTS:
            result = _task_result(name, data)
            tasks.append(result)
            if on_progress:
                on_progress(ProgressEvent("result", result.host, result.task, result.status))
        elif name == "playbook_on_stats":
            stats.update(_stats(data))
        return True  # keep ansible-runner's own job_events/*.json audit trail

    if spec.node is not None:
        streamed = _run_streamed(spec, spec.node, handle, cancelled)
        return _result(spec, streamed, tasks, stats, deprecations)
    venv_bin = str(Path(sys.executable).parent)
    envvars = {
        "ANSIBLE_CONFIG": str(spec.project_dir / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        **engine_env(spec.engine, forks=spec.forks, fact_cache_dir=spec.fact_cache_dir),
        **spec.extra_env,
    }
    stopping: dict[str, float] = {}

    def cancel() -> bool:
        """SIGTERM the run's processes on the first request; tell ansible-runner to SIGKILL
        once they are gone or the grace period is over."""
        if cancelled is None or not cancelled():
            return False
        if "since" not in stopping:
            stopping["since"] = time.monotonic()
            _signal_all(run_processes(spec.ident), signal.SIGTERM)
        return time.monotonic() - stopping["since"] > GRACE_SECONDS or not run_processes(spec.ident)

    runner = init_runner(
        private_data_dir=str(spec.private_data_dir),
        project_dir=str(spec.project_dir),
        playbook=str(spec.playbook),
        inventory=[str(p) for p in spec.inventories],
        extravars=dict(spec.extravars),
        envvars=envvars,
        cmdline=shlex.join(_command_line(spec)) or None,
        limit=spec.limit,
        forks=spec.forks if spec.engine is not Engine.STOCK else None,
        ident=spec.ident,
        quiet=True,
        event_handler=handle,
        cancel_callback=cancel,
        settings={"suppress_ansible_output": True, "pexpect_timeout": 0.5},
    )
    runner.config.env = {**child_env(runner.config.env), RUN_MARKER: spec.ident}
    runner.config.command = [
        sys.executable,
        "-c",
        _GUARD.format(root=str(_ROOT)),
        str(os.getpid()),
        spec.ident,
        *runner.config.command,
    ]
    try:
        runner.run()
    except BaseException:  # ansible-runner failed: leave nothing of the run behind
        end_run_processes(spec.ident)
        raise
    survivors = end_run_processes(spec.ident) if stopping else []
    status = {"canceled": "aborted"}.get(runner.status, runner.status)
    if stopping:
        status = "aborted"
    ended = _Ended(status, runner.rc, Path(runner.config.artifact_dir), survivors)
    return _result(spec, ended, tasks, stats, deprecations)


@dataclass
class _Ended:
    """How a job ended, here or on a node, before its events are summed up."""

    status: str
    rc: int | None
    artifacts_dir: Path
    survivors: list[int] = field(default_factory=list)
    reason: str | None = None
    node_lost: bool = False  # the node dropped: hosts without a recap are unreachable


def _result(
    spec: PlaybookSpec,
    ended: _Ended,
    tasks: list[TaskResult],
    stats: dict[str, HostStats],
    deprecations: dict[str, None],
) -> RunResult:
    for host in {t.host for t in tasks} - set(stats):
        stats[host] = _stats_from_tasks(host, tasks)
    if ended.node_lost and spec.node is not None:
        for host in spec.node.hosts:
            if host not in stats or not any(stats[host].as_dict().values()):
                stats[host] = HostStats(unreachable=1)
            elif not stats[host].failed and not stats[host].unreachable:
                stats[host].unreachable = 1  # its play did not finish: it is not converged
    mitogen = [d for d in deprecations if MITOGEN_DEPRECATION in d]
    return RunResult(
        status=ended.status,
        rc=int(ended.rc if ended.rc is not None else 1),
        hosts=stats,
        tasks=tasks,
        artifacts_dir=ended.artifacts_dir,
        survivors=ended.survivors,
        deprecations=[d for d in _without_repeats(deprecations) if d not in mitogen],
        mitogen_deprecated=bool(mitogen),
        reason=ended.reason,
        node=spec.node.name if spec.node is not None else None,
    )


# -- streaming to an execution node ---------------------------------------------------------
# The job goes `transmit | ssh node <wrapper> | process`: ansible-runner's own streaming, the
# protocol AWX's Receptor mesh carries. The wrapper (standard library only, run by the node's
# venv Python) starts `ansible-runner worker` in a fresh private data dir, passes it the job, and
# then keeps reading its standard input: end of file there means the controller is gone (ssh
# closed: mspctl interrupted or killed, network lost), and it ends every process of the job
# (found by RUN_MARKER, as here) and removes the job's directory. Nothing of a job stays on
# the node; the vault password and the hosts' key travel in the job's kwargs (ansible-runner's
# `passwords` and `ssh_key` with `suppress_env_files`), never written on the node's disk.
WORKER_WRAPPER = r"""
import os, select, shutil, signal, subprocess, sys, tempfile, time
ident = sys.argv[1]
mark = ("MSPCTL_RUN_ID=" + ident).encode()
base = tempfile.mkdtemp(prefix="mspctl-job-")
scratch = tempfile.mkdtemp(prefix="mspctl-tmp-")  # the job's temporary files (multiprocessing's)
env = dict(os.environ, MSPCTL_RUN_ID=ident, TMPDIR=scratch)
runner = os.path.join(os.path.dirname(sys.executable), "ansible-runner")
child = subprocess.Popen([runner, "worker", "--private-data-dir", base],
                         stdin=subprocess.PIPE, env=env, start_new_session=True)
def ancestors():
    found, pid = set(), os.getpid()
    while pid > 1:
        found.add(pid)
        try:
            with open("/proc/%d/stat" % pid) as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found
keep = ancestors()
def procs():
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in keep:
            try:
                with open("/proc/" + entry + "/environ", "rb") as handle:
                    if mark in handle.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                pass
    return found
def end():
    for signum, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        for pid in procs():
            try:
                os.kill(pid, signum)
            except OSError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            child.poll()
            if not procs():
                return
            time.sleep(0.1)
fd = sys.stdin.fileno()
tail, sending = b"", True
try:
    while child.poll() is None:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        data = os.read(fd, 65536)
        if not data:
            end()
            break
        if sending:
            child.stdin.write(data)
            child.stdin.flush()
            tail = (tail + data)[-64:]
            if b'{"eof": true}' in tail:
                sending = False
                child.stdin.close()
finally:
    end()
    child.wait()
    shutil.rmtree(base, ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)
sys.exit(child.returncode if child.returncode >= 0 else 128 - child.returncode)
"""
VAULT_PROMPT = r"^Vault password:\s*?$"
NODE_GRACE_SECONDS = 15.0  # after stdin is closed: the node ends the job, ssh exits
_JOB_PROJECT = ("ansible.cfg", "playbooks", "roles")  # the collection is on the node


def node_venv(path: str) -> str:
    return f"{path.rstrip('/')}/venv"


def worker_command(node: NodeTarget, ident: str) -> list[str]:
    """The ssh command that runs the job's worker on the node (one remote command line)."""
    python = f"{node_venv(node.path)}/bin/python"
    remote = shlex.join([python, "-c", WORKER_WRAPPER, ident])
    return [*node.ssh, remote]


def _stage_job(spec: PlaybookSpec, stage: Path) -> tuple[str, str]:
    """The job's private data dir: ``project/`` (ansible.cfg, playbooks, roles) and
    ``inventory/`` (each inventory file in order, with the client's group_vars/host_vars).
    Returns the playbook's and the inventory's paths."""
    import shutil

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    project = stage / "project"
    project.mkdir(parents=True)
    for name in _JOB_PROJECT:
        source = spec.project_dir / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, project / name)
    inventory = stage / "inventory"
    inventory.mkdir()
    for number, source in enumerate(spec.inventories):
        shutil.copy2(source, inventory / f"{number:02d}-{source.name}")
        for folder in ("group_vars", "host_vars"):
            if (source.parent / folder).is_dir():
                shutil.copytree(
                    source.parent / folder, inventory / folder, ignore=ignore, dirs_exist_ok=True
                )
    playbook = project / spec.playbook.resolve().relative_to(spec.project_dir.resolve())
    return str(playbook), str(inventory)


def _job_kwargs(spec: PlaybookSpec, node: NodeTarget, stage: Path) -> dict[str, Any]:
    playbook, inventory = _stage_job(spec, stage)
    base = node.path.rstrip("/")
    envvars = {
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_COLLECTIONS_PATH": f"{base}/collections",
        "PATH": f"{node_venv(base)}/bin:/usr/local/bin:/usr/bin:/bin",
        # the node has no Mitogen: the tuned engine, its fact cache on the node
        **engine_env(Engine.TUNED, forks=spec.forks, fact_cache_dir=Path(f"{base}/facts")),
        # ... with the linear strategy: under `free`, run_once and throttle tasks delegated to a
        # shared host run once per host, at the same time (seen on the lab: two site hosts
        # installing Prometheus on the MSP's monitoring host at once, one failing on apt)
        "ANSIBLE_STRATEGY": "linear",
        **spec.extra_env,
    }
    args = _command_line(replace(spec, vault_password_file=None))
    passwords: dict[str, str] = {}
    if spec.vault_password_file is not None:
        args.append("--ask-vault-pass")
        password = spec.vault_password_file.read_text(encoding="utf-8").strip()
        passwords[VAULT_PROMPT] = password
    kwargs: dict[str, Any] = {
        "private_data_dir": str(stage),
        "playbook": playbook,
        "inventory": inventory,
        "extravars": dict(spec.extravars),
        "envvars": envvars,
        "cmdline": shlex.join(args) or None,
        "limit": spec.limit,
        "forks": spec.forks,
        "ident": spec.ident,
        "passwords": passwords or None,
        "ssh_key": node.hosts_key,
        "suppress_env_files": True,  # secrets stay in the stream, never in env/ files
        "settings": {"suppress_ansible_output": True, "pexpect_timeout": 0.5},
        "quiet": True,
    }
    return {k: v for k, v in kwargs.items() if v is not None}


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def _run_streamed(
    spec: PlaybookSpec,
    node: NodeTarget,
    handle: Callable[[dict[str, Any]], bool],
    cancelled: Callable[[], bool] | None,
) -> _Ended:
    """transmit → ssh node worker → process, with ``handle`` seeing every event as in a local
    run and the artifacts in the same layout (``private_data_dir/artifacts/<ident>``).
    Cancelling closes the job's standard input: the node ends the job (WORKER_WRAPPER)."""
    import shutil
    import subprocess
    import tempfile
    import threading

    from ansible_runner.interface import init_runner

    stage = spec.private_data_dir / "job"
    if stage.exists():
        shutil.rmtree(stage)
    kwargs = _job_kwargs(spec, node, stage)
    with tempfile.TemporaryFile() as errors:  # ssh's messages: the reason when the node drops
        proc = subprocess.Popen(
            worker_command(node, spec.ident),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env={**child_env(os.environ), RUN_MARKER: spec.ident},
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
        )
        assert proc.stdin is not None and proc.stdout is not None
        sender_failed: list[BaseException] = []

        def send() -> None:
            try:
                init_runner(
                    streamer="transmit", _output=proc.stdin, cancel_callback=_never, **kwargs
                ).run()
            except (OSError, ValueError) as exc:  # the node went away while the job was sent
                sender_failed.append(exc)
            finally:
                shutil.rmtree(stage, ignore_errors=True)  # the job's copy is no audit trail

        statuses: list[dict[str, Any]] = []
        processor = init_runner(
            streamer="process",
            _input=proc.stdout,
            private_data_dir=str(spec.private_data_dir),
            ident=spec.ident,
            event_handler=handle,
            # given, so that ansible-runner installs no SIGINT/SIGTERM handler of its own over
            # mspctl's (engine._interruptible): `cancelled` is what stops a streamed run
            cancel_callback=_never,
            status_handler=lambda data, runner_config: statuses.append(dict(data)),
            quiet=True,
            settings={"suppress_ansible_output": True},
        )
        receiving = threading.Thread(target=processor.run, name=spec.ident, daemon=True)
        sending = threading.Thread(target=send, name=f"{spec.ident}-send", daemon=True)
        sending.start()
        receiving.start()
        aborted = False
        while receiving.is_alive():
            receiving.join(0.2)
            if not aborted and cancelled is not None and cancelled():
                aborted = True
                _close(proc.stdin)  # the node ends the job and its processes
                threading.Timer(NODE_GRACE_SECONDS, _stop, (proc,)).start()
        sending.join(5)
        _close(proc.stdin)
        try:
            proc.wait(NODE_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _stop(proc)
            proc.wait()
        errors.seek(0)
        ssh_said = errors.read().decode(errors="replace").splitlines()
    if sender_failed:
        ssh_said.append(f"sending the job failed: {sender_failed[0]}")
    return _streamed_end(spec, node, statuses, proc.returncode, ssh_said, aborted=aborted)


def _streamed_end(
    spec: PlaybookSpec,
    node: NodeTarget,
    statuses: list[dict[str, Any]],
    ssh_rc: int,
    ssh_said: list[str],
    *,
    aborted: bool,
) -> _Ended:
    """How a streamed job ended: ansible's own end, an abort, or the node lost (its reason)."""
    artifacts = spec.private_data_dir / "artifacts" / spec.ident
    status = str(statuses[-1].get("status")) if statuses else "error"
    rc = _read_rc(artifacts)
    if aborted:
        return _Ended("aborted", rc, artifacts)
    if status in ("successful", "failed") and rc is not None:
        return _Ended(status, rc, artifacts)
    explanation = next(
        (str(s["job_explanation"]) for s in reversed(statuses) if s.get("job_explanation")), ""
    )
    said = [ln.strip() for ln in ssh_said if ln.strip() and "Warning:" not in ln]
    reason = f"execution node {node.name} was lost mid-run (ssh exit status {ssh_rc}"
    reason += f": {said[-1]})" if said else ")"
    if explanation and "empty line" not in explanation:
        reason += f"; {explanation}"
    return _Ended("failed", rc, artifacts, reason=reason, node_lost=True)


def _never() -> bool:
    return False


def _close(stream: Any) -> None:
    with contextlib.suppress(OSError, ValueError):
        stream.close()


def _stop(proc: Any) -> None:
    with contextlib.suppress(OSError):
        proc.terminate()


def _read_rc(artifacts: Path) -> int | None:
    try:
        return int((artifacts / "rc").read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _task_result(event: str, data: dict[str, Any]) -> TaskResult:
    res = data.get("res") or {}
    if not isinstance(res, dict):
        res = {}
    status = _RESULT_EVENTS[event]
    changed = bool(res.get("changed")) and status == "ok"
    if changed:
        status = "changed"
    if status == "failed" and data.get("ignore_errors"):
        status = "ignored"
    diff = _diffs(res)
    message = res.get("msg")
    return TaskResult(
        host=str(data.get("host", "")),
        task=str(data.get("task", "")),
        role=data.get("role") or None,
        action=str(data.get("task_action", "")),
        status=status,
        changed=changed,
        message=str(message) if message is not None else None,
        diff=[d for d in diff if isinstance(d, dict)],
        result=res,
        start=data.get("start"),
        end=data.get("end"),
    )


_DEPRECATION_MARK = "[DEPRECATION WARNING]:"


def _deprecations(event: dict[str, Any]) -> list[str]:
    """The deprecation warnings an event carries: those of a task result (and of its loop
    items), structured, and those ansible printed (its own: templating, plugins, strategies),
    which ansible-runner keeps only as the event's ``stdout``."""
    found: list[str] = []
    res = event.get("event_data", {}).get("res")
    results = [res] if isinstance(res, dict) else []
    if isinstance(res, dict) and isinstance(res.get("results"), list):
        results += [item for item in res["results"] if isinstance(item, dict)]
    for result in results:
        for deprecation in result.get("deprecations") or []:
            text = deprecation.get("msg") if isinstance(deprecation, dict) else deprecation
            if text:
                found.append(" ".join(str(text).split()))
    lines = str(event.get("stdout") or "").splitlines()
    for number, line in enumerate(lines):
        if _DEPRECATION_MARK in line:
            text = line.split(_DEPRECATION_MARK, 1)[1].strip()
            origin = [x.strip() for x in lines[number + 1 : number + 3] if "Origin:" in x]
            found.append(" ".join([text, *origin[:1]]))
    return found


def _without_repeats(deprecations: Mapping[str, None]) -> list[str]:
    """One line per deprecation: a module's structured message and the line ansible printed
    for it are the same warning."""
    texts = list(deprecations)
    return [t for t in texts if not any(t != o and t in o for o in texts)]


def _diffs(res: dict[str, Any]) -> list[Any]:
    """A task's diffs: its own, or those of the changed items of a loop."""
    diff = res.get("diff") or []
    if isinstance(diff, dict):
        diff = [diff]
    for item in res.get("results") or []:
        if isinstance(item, dict) and item.get("changed") and "censored" not in item:
            diff += _diffs(item)
    return list(diff)


def _stats(data: dict[str, Any]) -> dict[str, HostStats]:
    keys = {
        "ok": "ok",
        "changed": "changed",
        "failures": "failed",
        "dark": "unreachable",
        "skipped": "skipped",
        "rescued": "rescued",
        "ignored": "ignored",
    }
    out: dict[str, HostStats] = {}
    for source, target in keys.items():
        for host, count in (data.get(source) or {}).items():
            setattr(out.setdefault(host, HostStats()), target, int(count))
    return out


def _stats_from_tasks(host: str, tasks: list[TaskResult]) -> HostStats:
    """Stats of a host when ansible stopped before printing them (an aborted run)."""
    stats = HostStats()
    for task in tasks:
        if task.host != host:
            continue
        if task.status in ("ok", "changed"):
            stats.ok += 1
        if task.status == "changed":
            stats.changed += 1
        elif task.status == "failed":
            stats.failed += 1
        elif task.status == "unreachable":
            stats.unreachable += 1
        elif task.status == "skipped":
            stats.skipped += 1
        elif task.status == "ignored":
            stats.ignored += 1
    return stats


__all__ = [
    "Engine",
    "HostStats",
    "NodeTarget",
    "PlaybookSpec",
    "ProgressEvent",
    "RunResult",
    "TaskResult",
    "child_env",
    "end_run_processes",
    "engine_env",
    "mitogen_problem",
    "resolve_engine",
    "run_playbook",
    "run_processes",
    "worker_command",
]
