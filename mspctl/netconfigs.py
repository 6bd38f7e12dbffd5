"""Network device configuration backups: one git repository per client, as Oxidized and RANCID
keep them.

Every run that reaches a device returns its normalised running configuration, secret values
masked (``plugins/module_utils/mspctl_netconfig.py``); :func:`save_run` writes one file per
device (``<device>.cfg``) into ``$MSPCTL_HOME/configs/<client>`` and commits the run's changes
as one commit dated at the run's start, naming the run in its trailers. git makes the store
content-addressed and deduplicated: an unchanged configuration makes no commit, and a version is
the file's blob id. The git CLI is used (no library): it is on every controller, and the
repository stays readable with plain ``git log`` by a technician.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mspctl.errors import BadInput, MspctlError

if TYPE_CHECKING:
    from mspctl.engine import Outcome
    from mspctl.runner import RunResult
    from mspctl.workspace import Workspace

SUFFIX = ".cfg"
_DEVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_TRAILER = re.compile(r"^Mspctl-(Run|Mode): (\S+)$", re.MULTILINE)
_FIELD = "\x1f"


@dataclass(frozen=True)
class Version:
    """One stored configuration of a device."""

    device: str
    commit: str
    blob: str  # the content address: git's blob id of the file
    date: dt.datetime
    run_id: str | None
    mode: str | None

    @property
    def short(self) -> str:
        return self.commit[:10]

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "version": self.short,
            "commit": self.commit,
            "blob": self.blob,
            "date": self.date.isoformat(),
            "run_id": self.run_id,
            "mode": self.mode,
        }


def configs_of(result: RunResult) -> dict[str, str]:
    """The configurations a run returned, by device (the network module's ``config``)."""
    out = {}
    for task in result.tasks:
        config = task.result.get("config")
        if task.action.endswith("network_config") and isinstance(config, str) and config:
            out[task.host] = config
    return out


class ConfigStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def repo(self, client: str) -> Path:
        return self.root / client

    # -- git -----------------------------------------------------------------------------------
    def _git(
        self, client: str, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> str:
        repo = self.repo(client)
        full_env = {
            **os.environ,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
            **(env or {}),
        }
        proc = subprocess.run(
            [
                "git",
                "-C",
                str(repo),
                "-c",
                "user.name=mspctl",
                "-c",
                "user.email=mspctl@localhost",
                *args,
            ],
            capture_output=True,
            text=True,
            env=full_env,
            check=False,
        )
        if check and proc.returncode != 0:
            raise MspctlError(f"git {args[0]} in {repo} failed: {proc.stderr.strip()[:300]}")
        return proc.stdout

    def _init(self, client: str) -> None:
        repo = self.repo(client)
        if (repo / ".git").is_dir():
            return
        repo.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._git(client, "init", "-q", "-b", "main")

    # -- writing -------------------------------------------------------------------------------
    def save(
        self,
        client: str,
        configs: dict[str, str],
        *,
        run_id: str,
        mode: str,
        when: dt.datetime,
    ) -> list[str]:
        """Store the devices' configurations; the devices whose configuration changed (none:
        no commit)."""
        if not configs:
            return []
        self._init(client)
        repo = self.repo(client)
        for device, text in sorted(configs.items()):
            _check_device(device)
            target = repo / f"{device}{SUFFIX}"
            temp = target.with_suffix(".tmp")
            temp.write_text(text, encoding="utf-8")
            os.replace(temp, target)
        self._git(client, "add", "--", *(f"{d}{SUFFIX}" for d in sorted(configs)))
        changed = [
            line.removesuffix(SUFFIX)
            for line in self._git(client, "diff", "--cached", "--name-only").splitlines()
        ]
        if not changed:
            return []
        stamp = when.astimezone(dt.UTC).isoformat()
        message = (
            f"{mode} run {run_id}: {', '.join(changed)}\n\n"
            f"Mspctl-Run: {run_id}\nMspctl-Mode: {mode}\n"
        )
        self._git(
            client,
            "commit",
            "-q",
            "--no-verify",
            "-m",
            message,
            env={"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp},
        )
        return changed

    # -- reading -------------------------------------------------------------------------------
    def devices(self, client: str) -> list[str]:
        repo = self.repo(client)
        if not (repo / ".git").is_dir():
            return []
        files = self._git(client, "ls-tree", "--name-only", "HEAD", check=False).splitlines()
        return sorted(f.removesuffix(SUFFIX) for f in files if f.endswith(SUFFIX))

    def versions(self, client: str, device: str) -> list[Version]:
        """The device's stored versions, newest first."""
        _check_device(device)
        if device not in self.devices(client):
            return []
        path = f"{device}{SUFFIX}"
        log = self._git(client, "log", f"--format=%H{_FIELD}%cI{_FIELD}%B%x00", "--", path)
        out = []
        for raw in log.split("\x00"):
            entry = raw.strip("\n")
            if not entry:
                continue
            commit, date, body = entry.split(_FIELD, 2)
            trailers = dict(_TRAILER.findall(body))
            blob = self._git(client, "rev-parse", f"{commit}:{path}").strip()
            out.append(
                Version(
                    device,
                    commit,
                    blob,
                    dt.datetime.fromisoformat(date),
                    trailers.get("Run"),
                    trailers.get("Mode"),
                )
            )
        return out

    def text(self, client: str, version: Version) -> str:
        return self._git(client, "cat-file", "blob", version.blob)

    def resolve(
        self, client: str, device: str, ref: str | None, *, at: dt.datetime | None = None
    ) -> Version:
        """A stored version by commit (prefix), by run id (prefix) or date (the version stored
        by that run, or the last one before it: ``at`` is that run's start), or the newest."""
        versions = self.versions(client, device)
        if not versions:
            raise BadInput(f"no stored configuration of device {device!r} of client {client!r}")
        if at is not None:
            found = [v for v in versions if v.date <= at]
            if not found:
                raise BadInput(f"no configuration of {device!r} stored by {at:%Y-%m-%d %H:%M}")
            return found[0]
        if ref is None:
            return versions[0]
        matches = [
            v for v in versions if v.commit.startswith(ref) or (v.run_id or "").startswith(ref)
        ]
        if len(matches) != 1 or len(ref) < 4:
            raise BadInput(
                f"{'no' if not matches else 'ambiguous'} stored version {ref!r} of {device!r}"
                " (see mspctl configs list)"
            )
        return matches[0]


def unified(before: str, after: str, from_label: str, to_label: str) -> str:
    return "\n".join(
        difflib.unified_diff(
            before.splitlines(), after.splitlines(), from_label, to_label, lineterm=""
        )
    )


def _check_device(device: str) -> None:
    if not _DEVICE.match(device):
        raise BadInput(f"invalid device name {device!r}")


# -- domain: what the commands call -----------------------------------------------------------
def version_for(workspace: Workspace, client: str, device: str, ref: str | None) -> Version:
    """A device's stored version: by commit or storing run (prefix), else the version current
    at a run or date of the run store (``mspctl runs list``), else the newest."""
    store = workspace.netconfigs
    workspace.clients.get(client)  # an unknown client is bad input, not "nothing stored"
    try:
        return store.resolve(client, device, ref)
    except BadInput:
        if ref is None:
            raise
    from mspctl.store.queries import resolve_run

    with workspace.store.session() as session:
        run = resolve_run(session, client, ref)
        at = run.started_at if run.started_at.tzinfo else run.started_at.replace(tzinfo=dt.UTC)
    return store.resolve(client, device, None, at=at)


def previous(workspace: Workspace, client: str, version: Version) -> Version | None:
    versions = workspace.netconfigs.versions(client, version.device)
    index = next(i for i, v in enumerate(versions) if v.commit == version.commit)
    return versions[index + 1] if index + 1 < len(versions) else None


def diff(
    workspace: Workspace, client: str, device: str, from_ref: str | None, to_ref: str | None
) -> dict[str, Any]:
    """The unified diff between two stored versions (default: the newest and the one before)."""
    store = workspace.netconfigs
    new = version_for(workspace, client, device, to_ref)
    old = (
        version_for(workspace, client, device, from_ref)
        if from_ref
        else previous(workspace, client, new)
    )
    before = store.text(client, old) if old else ""
    return {
        "client": client,
        "device": device,
        "from": old.as_dict() if old else None,
        "to": new.as_dict(),
        "diff": unified(
            before,
            store.text(client, new),
            f"{device}@{old.short if old else 'nothing'}",
            f"{device}@{new.short}",
        ),
    }


def config_changes(
    workspace: Workspace, client: str, before: dt.datetime, after: dt.datetime
) -> list[dict[str, Any]]:
    """Devices whose stored configuration differs between two moments (two runs' starts), with
    a ``+added -removed`` summary: the network part of ``mspctl diff``."""
    store = workspace.netconfigs
    out = []
    for device in store.devices(client):
        versions = store.versions(client, device)
        old = next((v for v in versions if v.date <= before), None)
        new = next((v for v in versions if v.date <= after), None)
        if new is None or (old is not None and old.blob == new.blob):
            continue
        text = unified(store.text(client, old) if old else "", store.text(client, new), "a", "b")
        lines = text.splitlines()[2:]
        added = sum(1 for x in lines if x.startswith("+"))
        removed = sum(1 for x in lines if x.startswith("-"))
        out.append(
            {
                "host": device,
                "from": old.short if old else None,
                "to": new.short,
                "summary": f"+{added} -{removed}",
            }
        )
    return out


def changes_between_runs(
    workspace: Workspace, client: str, before: dict[str, Any], after: dict[str, Any]
) -> list[dict[str, Any]]:
    """:func:`config_changes` between two runs as ``compliance.client_diff`` describes them."""

    def moment(run: dict[str, Any]) -> dt.datetime:
        when = dt.datetime.fromisoformat(run["started_at"])
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)

    return config_changes(workspace, client, moment(before), moment(after))


def restore(
    workspace: Workspace,
    client: str,
    device: str,
    version: Version,
    *,
    check: bool,
    vault_password_file: Path | None = None,
) -> Outcome:
    """Push a stored version back to the device: a recorded run of the network policy limited
    to the device (check: the diff only). Lines holding a masked secret are left alone."""
    from mspctl.engine import ApplyRequest, execute, plan

    request = ApplyRequest(
        client=client,
        check=check,
        diff=True,
        limit=device,
        policies=("network",),
        vault_password_file=vault_password_file,
    )
    planned = plan(workspace, request)
    planned.extravars["network_restore_config"] = workspace.netconfigs.text(client, version)
    return execute(workspace, planned)
