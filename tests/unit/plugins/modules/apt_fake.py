"""A Debian host's apt in memory for the patching modules' unit tests, and the modules they test.

``FakeApt`` holds installed versions, holds, auto marks and the versions a mirror offers per
suite, and answers what ``mspctl_apt_upgrade`` and ``mspctl_patch_status`` ask their
``AptBackend`` (pending updates, an ``apt-get -s`` plan, install, ``apt-mark``, hooks) with
apt-get's semantics, simplified: a plan upgrades the named packages and what ``depends`` says
they drag along or remove.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_patching as pu


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


class FakeApt:
    """Installed packages, holds and a mirror, with apt-get's upgrade semantics (simplified).

    ``mirror`` maps a package to ``{version: suite}``; ``depends`` maps ``name=version`` to
    the packages it drags along (upgraded to their newest version) or removes (``-name``).
    """

    def __init__(
        self,
        installed: dict[str, str],
        mirror: dict[str, dict[str, str]],
        held: set[str] | None = None,
        auto: set[str] | None = None,
        depends: dict[str, list[str]] | None = None,
    ) -> None:
        self.installed = dict(installed)
        self.mirror = mirror
        self.held = set(held or ())
        self.auto = set(auto or ())
        self.depends = depends or {}
        self.calls: list[tuple[Any, ...]] = []
        self.hook_rc: dict[str, int] = {}
        self.lists_refreshed = 0

    def lists_age(self, now: dt.datetime) -> float:
        return 10.0 if self.lists_refreshed else 1e9

    def refresh_lists(self) -> None:
        self.lists_refreshed += 1

    def newest(self, name: str, security_only: bool = False) -> str | None:
        versions = [
            v
            for v, suite in self.mirror.get(name, {}).items()
            if not security_only or suite.endswith("-security")
        ]
        return max(versions, key=_key) if versions else None

    def packages(self) -> tuple[dict[str, Any], list[Any]]:
        installed = {
            n: pu.Installed(v, n in self.held, n in self.auto) for n, v in self.installed.items()
        }
        updates = []
        for name, version in sorted(self.installed.items()):
            candidate = self.newest(name)
            if candidate is None or _key(candidate) <= _key(version):
                continue
            security = self.newest(name, security_only=True)
            if security is not None and _key(security) <= _key(version):
                security = None
            updates.append(pu.Update(name, version, candidate, security, name in self.held))
        return installed, updates

    def simulate(self, targets: dict[str, str]) -> tuple[dict[str, list[Any]], list[str]]:
        changes: dict[str, list[Any]] = {}
        removed: list[str] = []
        for name, version in targets.items():
            changes[name] = [self.installed.get(name), version]
            for dep in self.depends.get(f"{name}={version}", []):
                if dep.startswith("-"):
                    removed.append(dep[1:])
                else:
                    changes[dep] = [self.installed.get(dep), self.newest(dep)]
        return changes, sorted(removed)

    def install(self, targets: dict[str, str]) -> str:
        self.calls.append(("install", dict(targets)))
        changes, _removed = self.simulate(targets)
        for name, (_before, after) in changes.items():
            self.installed[name] = after
            self.auto.discard(name)  # apt-get install marks what it touches as manual
        return ""

    def mark(self, action: str, names: list[str]) -> None:
        if not names:
            return
        self.calls.append((action, list(names)))
        for name in names:
            if action == "hold":
                self.held.add(name)
            elif action == "unhold":
                self.held.discard(name)
            elif action == "auto":
                self.auto.add(name)

    def run_hook(self, command: str) -> dict[str, Any]:
        self.calls.append(("hook", command))
        return {"command": command, "rc": self.hook_rc.get(command, 0), "stdout": "", "stderr": ""}


class FakeModule:
    def __init__(self, check_mode: bool = False, diff: bool = True) -> None:
        self.check_mode = check_mode
        self._diff = diff

    def atomic_move(self, src: str, dest: str) -> None:
        Path(src).replace(dest)
