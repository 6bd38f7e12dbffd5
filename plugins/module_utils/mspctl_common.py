# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every mspctl plugin needs: running a command, JSON state files written atomically.

One implementation for the modules (imported as
``ansible_collections.mspctl.policy.plugins.module_utils.mspctl_common``), the controller
plugins, and the programs the roles deploy to hosts (``mspctl_restic.py``, the monitoring
collector and ``mspctl_monitoring.py``), which import it by plain name from their own
directory: the ``backup_agent`` and ``monitoring`` roles install this file next to them.
Standard library only; it runs on the managed host's Python (3.9 and later).

Commands run through a ``run(argv, env=None) -> (rc, stdout, stderr)`` callable: in a module,
:func:`module_runner` (``module.run_command``, no shell); in a deployed program,
:func:`run_process` (``subprocess``, no shell). Tests pass a fake with the same signature.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from typing import Any, Protocol

Runner = Callable[..., "tuple[int, str, str]"]


class CommandModule(Protocol):
    """What :func:`module_runner` needs of an ``AnsibleModule``."""

    def run_command(
        self, args: Any, *, environ_update: Any = None, **kwargs: Any
    ) -> tuple[int, str, str]: ...


# ---------------------------------------------------------------------------------------------
# commands


def run_process(
    argv: list[str], env: Mapping[str, str] | None = None, timeout: float | None = None
) -> tuple[int, str, str]:
    """Run ``argv`` (no shell) with ``env`` added to this process's environment.

    Returns ``(rc, stdout, stderr)`` as text (undecodable bytes replaced); a program that
    cannot be started (or times out) gives rc 127 and the reason as stderr, never an exception.
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    # for the programs roles deploy (the monitoring collector, started by a systemd timer), which
    # have no AnsibleModule and its run_command; modules use module_runner (run_command)
    try:
        proc = subprocess.run(  # pylint: disable=ansible-bad-function
            argv, capture_output=True, env=full_env, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return 127, "", str(exc)
    return (
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def process_runner(env: Mapping[str, str] | None = None, timeout: float | None = None) -> Runner:
    """A ``run(argv, env=None)`` callable on :func:`run_process`, ``env`` added to each call's."""

    def run(argv: list[str], extra: Mapping[str, str] | None = None) -> tuple[int, str, str]:
        return run_process(argv, dict(env or {}, **(extra or {})), timeout)

    return run


def module_runner(module: CommandModule, env: Mapping[str, str] | None = None) -> Runner:
    """A ``run(argv, env=None)`` callable on ``module.run_command``, ``env`` added to each's."""

    def run(argv: list[str], extra: Mapping[str, str] | None = None) -> tuple[int, str, str]:
        return module.run_command(argv, environ_update=dict(env or {}, **(extra or {})))

    return run


# ---------------------------------------------------------------------------------------------
# JSON state files


def load_json(path: str) -> Any:
    """The JSON document at ``path``; OSError when unreadable, ValueError when not JSON."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_json(path: str, default: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The JSON object at ``path``, or ``default`` if it is missing, unreadable or no object."""
    try:
        data = load_json(path)
    except (OSError, ValueError):
        return default
    return data if isinstance(data, dict) else default


def write_text(path: str, text: str, mode: int = 0o644, dir_mode: int = 0o755) -> None:
    """Replace ``path`` atomically with ``text``: a temporary file in the same directory,
    flushed to disk, given ``mode``, then renamed over ``path`` (``os.replace``). Readers see
    the old content or the new, never a part. Missing directories are created (``dir_mode``)."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, dir_mode)
    handle, temp = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def write_json(path: str, data: Any, mode: int = 0o644, dir_mode: int = 0o755) -> None:
    """Write ``data`` as indented, key-sorted JSON to ``path`` atomically (:func:`write_text`)."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode, dir_mode)
