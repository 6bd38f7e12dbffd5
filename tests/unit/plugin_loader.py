"""Load mspctl's Ansible plugins (modules, module_utils, scripts) as plain Python for unit tests.

A module imports its module_utils as ``ansible.module_utils.<name>``, the way Ansible ships
them to the host; loading a module_utils file under that name first makes that import work.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins"


def load(name: str, path: Path) -> ModuleType:
    """Import the file at ``path`` as module ``name`` (once; any extension, e.g. a script)."""
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def load_module_utils(*names: str) -> list[ModuleType]:
    """plugins/module_utils/<name>.py as ``ansible.module_utils.<name>``."""
    return [load(f"ansible.module_utils.{n}", PLUGINS / "module_utils" / f"{n}.py") for n in names]
