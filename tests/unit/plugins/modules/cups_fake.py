"""A scheduler in memory for the CUPS modules' unit tests, and their loader.

``FakeCups`` answers what the modules ask a host (the IPP queue list, ``lpinfo -m``,
``cupsctl``) and applies what they run (``lpadmin``, ``cupsctl --[no-]share-printers``) the
way CUPS 2.4 does, as observed on Debian lab hosts: a new queue is shared and disabled unless
told otherwise, its description is its name, a raw queue's make and model is "Local Raw
Printer", an IPP Everywhere one ends in " - IPP Everywhere", user info leaves the device URI.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_cups as cups
from ansible_collections.mspctl.policy.tests.unit.plugins.modules.helper import (
    run_module as run_main,
)

MODELS = {
    "drv:///sample.drv/generic.ppd": "Generic PostScript Printer",
    "drv:///sample.drv/generpcl.ppd": "Generic PCL Laser Printer",
    "lsb/usr/cupsfilters/Generic-PDF_Printer-PDF.ppd": "Generic PDF Printer",
}


def queue(uri: str = "socket://10.0.0.1:9101", **fields: Any) -> dict[str, Any]:
    """A queue as ``read_queues`` returns it."""
    base = {
        "uri": uri,
        "make_and_model": "Local Raw Printer",
        "description": "",
        "location": "",
        "enabled": True,
        "accepting": True,
        "shared": False,
        "temporary": False,
        "default": False,
        "error_policy": "retry-job",
    }
    base.update(fields)
    return base


class FakeCups:
    def __init__(
        self,
        queues: dict[str, dict[str, Any]] | None = None,
        *,
        sharing: bool = False,
        running: bool = True,
        installed: bool = True,
    ) -> None:
        self.queues = copy.deepcopy(queues or {})
        self.sharing = sharing
        self.running = running
        self.installed = installed
        self.calls: list[list[str]] = []
        self.refuse: set[str] = set()  # queue names lpadmin -p fails for
        # CUPS makes an IPP Everywhere driver in the background: the queue reads as raw for
        # this many reads after lpadmin returned (None: the printer never answers)
        self.everywhere_delay: int | None = 2
        self._pending: dict[str, int | None] = {}

    # -- what the modules read --------------------------------------------------------------
    def read_queues(self, socket_path: str = cups.SOCKET_PATH) -> dict[str, dict[str, Any]]:
        if not self.running:
            raise cups.CupsUnavailable(f"cannot reach the CUPS scheduler at {socket_path}")
        for name, left in list(self._pending.items()):
            if left is not None and left <= 0:
                self.queues[name]["make_and_model"] = "Printer - IPP Everywhere"
                del self._pending[name]
            elif left is not None:
                self._pending[name] = left - 1
        return copy.deepcopy(self.queues)

    def writes(self) -> list[list[str]]:
        return [c for c in self.calls if Path(c[0]).name != "lpinfo" and len(c) > 1]

    def get_bin_path(self, name: str) -> str | None:
        return f"/usr/sbin/{name}" if self.installed else None

    # -- AnsibleModule.run_command ----------------------------------------------------------
    def run_command(self, argv: list[str], **_: Any) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        tool = Path(argv[0]).name
        assert self.installed or tool not in ("lpinfo", "cupsctl", "lpadmin"), argv
        if not self.running:
            return 1, "", f"{tool}: Unable to connect to server"
        if tool == "lpinfo":
            schemes = argv[argv.index("--include-schemes") + 1].split(",")
            lines = [
                f"{name} {text}"
                for name, text in MODELS.items()
                if cups.model_scheme(name) in schemes
            ]
            return 0, "\n".join(lines) + "\n", ""
        if tool == "cupsctl":
            if len(argv) == 1:
                return 0, f"_remote_admin=0\n_share_printers={int(self.sharing)}\n", ""
            self.sharing = argv[1] == "--share-printers"
            return 0, "", ""
        if tool == "lpadmin":
            return self._lpadmin(argv[1:])
        raise AssertionError(f"unexpected command {argv}")

    def _lpadmin(self, args: list[str]) -> tuple[int, str, str]:
        flag, name, rest = args[0], args[1], args[2:]
        existing = cups.find(self.queues, name)
        if flag == "-x":
            if existing is None:
                return 1, "", "lpadmin: The printer or class does not exist."
            del self.queues[existing]
            return 0, "", ""
        if flag == "-d":
            if existing is None:
                return 1, "", "lpadmin: The printer or class does not exist."
            for item in self.queues.values():
                item["default"] = False
            self.queues[existing]["default"] = True
            return 0, "", ""
        assert flag == "-p", args
        if name in self.refuse:
            return 1, "", "lpadmin: Unable to connect to printer"
        if existing is None:
            existing = name
            self.queues[name] = queue(description=name, shared=True, enabled=False, accepting=False)
        item = self.queues[existing]
        words = iter(rest)
        for word in words:
            if word == "-E":
                item["enabled"] = item["accepting"] = True
            elif word == "-v":
                item["uri"] = cups.sanitize_uri(next(words))
            elif word == "-m":
                model = next(words)
                item["make_and_model"] = MODELS.get(model, "Local Raw Printer")
                if model == "everywhere":
                    self._pending[existing] = self.everywhere_delay
            elif word == "-D":
                item["description"] = next(words)
            elif word == "-L":
                item["location"] = next(words)
            elif word == "-o":
                key, _sep, value = next(words).partition("=")
                if key == "printer-is-shared":
                    item["shared"] = value == "true"
                elif key == "printer-error-policy":
                    item["error_policy"] = value
                else:
                    raise AssertionError(f"unexpected option {key}")
            else:
                raise AssertionError(f"unexpected lpadmin argument {word}")
        return 0, "", ""


def run_module(
    module: ModuleType,
    fake: FakeCups,
    monkeypatch: pytest.MonkeyPatch,
    args: dict[str, Any],
    *,
    check: bool = False,
    diff: bool = True,
) -> dict[str, Any]:
    """The module's result (helper.run_module) with the host's CUPS answered by ``fake``."""
    from ansible.module_utils import basic

    monkeypatch.setattr(module, "read_queues", fake.read_queues)
    monkeypatch.setattr("time.sleep", lambda _seconds: None)  # the fake settles by reads
    monkeypatch.setattr(
        basic.AnsibleModule, "run_command", lambda _self, argv, **kw: fake.run_command(argv, **kw)
    )
    monkeypatch.setattr(
        basic.AnsibleModule, "get_bin_path", lambda _self, name, *a, **kw: fake.get_bin_path(name)
    )
    return run_main(module, args, check=check, diff=diff)
