"""Exit codes and the errors that map to them.

Every command exits with one of these codes; they are decided in one place (the application
object), never with ``sys.exit`` in a command.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    OK = 0  # success; for a check run, no drift either
    FAILED = 1  # a host failed or was unreachable, or the run could not complete
    DRIFT = 2  # a check run found changes pending (like terraform plan -detailed-exitcode)
    BAD_INPUT = 3  # unknown client or tier, invalid YAML, schema violation, usage error
    BUSY = 4  # another run of the same client holds its lock (wait for it with --wait)
    ABORTED = 130  # interrupted by Ctrl-C or SIGTERM; the run is recorded as aborted


EXIT_CODES_HELP = (
    "Exit codes: 0 success (check runs: no drift); 1 a host failed or was unreachable; "
    "2 a check run found drift; 3 bad input (unknown client or tier, invalid YAML, schema "
    "violation, usage error); 4 busy (another run of the client is in progress; --wait waits); "
    "130 interrupted (run recorded as aborted)."
)


class MspctlError(Exception):
    """An error with a one-line message and the exit code it maps to."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0])


class BadInput(MspctlError):
    """Invalid input; the message names the file and the key when there is one."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str, *, file: Path | str | None = None, key: str | None = None):
        where = ""
        if file is not None:
            where = f"{file}: "
        if key:
            where += f"{key}: "
        super().__init__(f"{where}{message}")
        self.file = file
        self.key = key


class StoreUnavailable(MspctlError):
    """The run store cannot be reached or stays busy (locked, timed out, read-only); the
    message names the store with its password hidden."""
