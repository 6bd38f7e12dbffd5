"""ansible-playbook on this machine (``-c local``, the test's Python as the interpreter), for
tests of roles' task files and of the collection's plugins that need no lab host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_local_playbook(
    playbook: Path, ansible_home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``playbook`` on localhost with a private ANSIBLE_HOME, no colour and no localhost or
    inventory warnings; ``args`` go before the playbook (``-e``, ``--check``, ``--diff``)."""
    environment = dict(
        os.environ,
        ANSIBLE_HOME=str(ansible_home),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        **(env or {}),
    )
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        *args,
        str(playbook),
    ]
    return subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
