"""A restic in memory for the backup_agent unit tests, and the loader of its modules.

``FakeRestic`` answers the commands ``plugins/module_utils/mspctl_restic.py`` runs the way restic
0.14 to 0.18 prints them (``snapshots --json``, ``ls --json`` with nanosecond RFC 3339 times,
``backup --json`` summaries, its exit codes and messages), over real files: a snapshot records
the files' metadata and content, ``restore --target`` writes them back under the target. It can
be made to tamper with restored content, refuse a wrong password or fail a command.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ansible_collections.mspctl.policy.tests.unit.plugins.modules.helper import (
    run_module as run_main,
)


def rfc3339_ns(ns: int, offset_minutes: int = 0) -> str:
    """restic's time format: Go's RFC3339Nano (trailing zeros trimmed), local offset."""
    zone = dt.timezone(dt.timedelta(minutes=offset_minutes))
    moment = dt.datetime.fromtimestamp(ns // 10**9, tz=zone)
    fraction = f"{ns % 10**9:09d}".rstrip("0")
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "")
    if offset_minutes == 0:
        return text + "Z"
    sign = "+" if offset_minutes > 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


@dataclass
class Snapshot:
    id: str
    time: str
    host: str
    paths: list[str]
    nodes: list[dict[str, Any]]
    content: dict[str, bytes]


@dataclass
class FakeRestic:
    password: str = "correct horse battery staple"
    initialised: bool = True
    snaps: list[Snapshot] = field(default_factory=list)
    calls: list[list[str]] = field(default_factory=list)
    envs: list[dict[str, str]] = field(default_factory=list)
    tamper: set[str] = field(default_factory=set)  # paths restored with other content
    fail: dict[str, tuple[int, str]] = field(default_factory=dict)  # command -> (rc, stderr)
    offset_minutes: int = 0  # the host's time zone, as restic prints times
    clock: float | None = None  # snapshot time (epoch seconds); None: now

    # -- helpers for the tests ---------------------------------------------------------------
    def take(self, host: str, paths: list[str], when: float | None = None) -> Snapshot:
        nodes, content = [], {}
        for top in paths:
            for root, dirs, files in os.walk(top):
                dirs.sort()
                for name in sorted(files):
                    path = os.path.join(root, name)
                    info = os.lstat(path)
                    kind = "symlink" if os.path.islink(path) else "file"
                    node = {
                        "name": name,
                        "type": kind,
                        "path": path,
                        "uid": 0,
                        "gid": 0,
                        "mode": info.st_mode & 0o777,
                        "mtime": rfc3339_ns(info.st_mtime_ns, self.offset_minutes),
                        "struct_type": "node",
                    }
                    if kind == "file":
                        node["size"] = info.st_size
                        content[path] = Path(path).read_bytes()
                    nodes.append(node)
        moment = when if when is not None else (self.clock or dt.datetime.now().timestamp())
        snap_id = f"{len(self.snaps) + 1:08x}" + "ab" * 28
        snap = Snapshot(
            snap_id,
            rfc3339_ns(int(moment * 10**9), self.offset_minutes),
            host,
            list(paths),
            nodes,
            content,
        )
        self.snaps.append(snap)
        return snap

    def commands(self) -> list[str]:
        return [argv[1] for argv in self.calls]

    # -- restic ------------------------------------------------------------------------------
    def __call__(self, argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        self.envs.append(dict(env))
        command, args = argv[1], self._strip_options(argv[2:])
        if command in self.fail:
            rc, err = self.fail[command]
            return rc, "", err
        if command == "version":
            return 0, "restic 0.14.0 compiled with go1.19.8 on linux/amd64\n", ""
        if not self.initialised and command != "init":
            return (
                1,
                "",
                (
                    "Fatal: unable to open config file: Stat: file does not exist\n"
                    "Is there a repository at the following location?\n"
                    f"{env.get('RESTIC_REPOSITORY')}\n"
                ),
            )
        given = env.get("RESTIC_PASSWORD")
        if given is None and env.get("RESTIC_PASSWORD_FILE"):
            given = Path(env["RESTIC_PASSWORD_FILE"]).read_text().strip()
        if given != self.password:
            return 1, "", "Fatal: wrong password or no key found\n"
        return getattr(self, "_" + command.replace("-", "_"))(args)

    @staticmethod
    def _strip_options(args: list[str]) -> list[str]:
        out, skip = [], False
        for arg in args:
            if skip:
                skip = False
                continue
            if arg == "-o":
                skip = True
                continue
            out.append(arg)
        return out

    def _init(self, args: list[str]) -> tuple[int, str, str]:
        if self.initialised:
            return 1, "", "Fatal: create repository failed: config file already exists\n"
        self.initialised = True
        return 0, "created restic repository 1234abcd\n", ""

    def _cat(self, args: list[str]) -> tuple[int, str, str]:
        return 0, json.dumps({"version": 2, "id": "1234abcd"}), ""

    def _snapshots(self, args: list[str]) -> tuple[int, str, str]:
        host = args[args.index("--host") + 1] if "--host" in args else None
        out = [
            {
                "time": s.time,
                "tree": "ff" * 32,
                "paths": s.paths,
                "hostname": s.host,
                "username": "root",
                "id": s.id,
                "short_id": s.id[:8],
            }
            for s in self.snaps
            if host is None or s.host == host
        ]
        return 0, json.dumps(out) + "\n", ""

    def _find(self, ref: str) -> Snapshot | None:
        return next((s for s in self.snaps if s.id.startswith(ref)), None)

    def _ls(self, args: list[str]) -> tuple[int, str, str]:
        snap = self._find(args[-1])
        if snap is None:
            return 1, "", f"Fatal: invalid id {args[-1]!r}: no matching ID found\n"
        lines = [
            json.dumps(
                {
                    "time": snap.time,
                    "paths": snap.paths,
                    "hostname": snap.host,
                    "id": snap.id,
                    "short_id": snap.id[:8],
                    "struct_type": "snapshot",
                }
            )
        ]
        lines += [json.dumps(node) for node in snap.nodes]
        return 0, "\n".join(lines) + "\n", ""

    def _restore(self, args: list[str]) -> tuple[int, str, str]:
        snap = self._find(args[0])
        assert snap is not None
        assert "--verify" in args
        target = args[args.index("--target") + 1]
        includes = [args[i + 1] for i, a in enumerate(args) if a == "--include"]
        for path in includes:
            data = snap.content[path]
            if path in self.tamper:
                data = b"tampered " + data
            out = Path(target) / path.lstrip("/")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        if self.tamper & set(includes):
            first = sorted(self.tamper)[0]
            return (
                1,
                "",
                (
                    f"ignoring error for {first}: ciphertext verification failed\n"
                    "Fatal: There were 1 errors\n"
                ),
            )
        return 0, f"restoring <Snapshot {snap.id[:8]}> to {target}\n", ""

    def _backup(self, args: list[str]) -> tuple[int, str, str]:
        host = args[args.index("--host") + 1]
        paths = args[args.index("--") + 1 :]
        snap = self.take(host, paths)
        summary = {
            "message_type": "summary",
            "files_new": len(snap.nodes),
            "snapshot_id": snap.id[:8],
        }
        return 0, json.dumps({"message_type": "status"}) + "\n" + json.dumps(summary) + "\n", ""

    def _forget(self, args: list[str]) -> tuple[int, str, str]:
        return 0, "[]\n", ""


SYSTEMCTL_SHOW_OK = (
    "UnitFileState=enabled\nActiveState=active\nLoadState=loaded\n"
    "NextElapseUSecRealtime=Sat 2026-11-28 01:07:12 CET\n"
    "LastTriggerUSec=Fri 2026-11-27 01:03:02 CET\n"
    "TimersCalendar={ OnCalendar=*-*-* 01:00:00 Europe/Paris ; "
    "next_elapse=Sat 2026-11-28 01:00:00 CET }\n"
)


def run_module(
    module: ModuleType,
    fake: FakeRestic | None,
    monkeypatch: Any,
    args: dict[str, Any],
    *,
    check: bool = False,
    diff: bool = True,
    systemctl_show: str | None = SYSTEMCTL_SHOW_OK,
) -> dict[str, Any]:
    """The module's result (helper.run_module) with restic answered by ``fake`` (None: restic
    is not installed) and ``systemctl show`` by ``systemctl_show`` (None: it fails)."""
    from ansible.module_utils import basic

    def run_command(
        _self: Any, argv: list[str], environ_update: Any = None, **_kw: Any
    ) -> tuple[int, str, str]:
        if argv[0].endswith("/restic"):
            assert fake is not None
            return fake(argv, dict(environ_update or {}))
        if argv[0].endswith("/systemctl"):
            if systemctl_show is None:
                return 1, "", "Failed to connect to bus: No such file or directory\n"
            return 0, systemctl_show, ""
        raise AssertionError(f"unexpected command {argv}")

    def get_bin_path(_self: Any, name: str, required: bool = False, **_kw: Any) -> str | None:
        if name == "restic" and fake is None:
            if required:
                _self.fail_json(msg="Failed to find required executable restic")
            return None
        return f"/usr/bin/{name}"

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
    return run_main(module, args, check=check, diff=diff)
