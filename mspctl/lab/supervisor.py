"""Keeps one lab host's ``systemd-nspawn`` running across guest reboots.

A guest ``reboot`` makes nspawn exit with code 133; this loop starts it again, so
``ansible.builtin.reboot`` works (the host is back in about a second). Any other exit ends the
loop. SIGTERM is passed to nspawn, which powers the guest off; a second SIGTERM makes nspawn
terminate the guest at once.

Started detached by ``mspctl lab up`` (there is no systemd PID 1 to run it as a unit)::

    python -m mspctl.lab.supervisor --lab NAME --host HOST --pidfile P --log L -- nspawn ...

The command line carries ``--lab`` and ``--host`` so ``mspctl lab down`` can find it even when
the lab's state file is lost. Only the standard library is used: it starts fast.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

REBOOT_EXIT_CODE = 133


def _log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    sys.stdout.write(f"[mspctl-lab-supervisor {stamp}] {message}\n")
    sys.stdout.flush()


def supervise(command: list[str]) -> int:
    child: subprocess.Popen[bytes] | None = None
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    boots = 0
    while True:
        boots += 1
        _log(f"starting the guest (boot {boots})")
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        if stopping:
            child.send_signal(signal.SIGTERM)
        while True:
            try:
                rc = child.wait()
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                continue
        if stopping:
            _log(f"guest stopped (nspawn exit code {rc})")
            return 0
        if rc == REBOOT_EXIT_CODE:
            _log("guest rebooted")
            continue
        _log(f"guest exited with code {rc}; not restarting")
        return rc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mspctl-lab-supervisor")
    parser.add_argument("--lab", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--pidfile", required=True, type=Path)
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to supervise")

    # Detach: the caller returns at once and the supervisor belongs to no terminal or session.
    pid = os.fork()
    if pid:
        args.pidfile.write_text(f"{pid}\n")
        return 0
    os.setsid()
    log = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    os.chdir("/")
    code = supervise(command)
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
