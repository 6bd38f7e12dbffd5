"""Unit tests of the collection's plugins import them as Ansible does, by collection name.

The repository root is the collection ``mspctl.policy`` and ``collections/ansible_collections/
mspctl/policy`` links back to it, so putting ``<root>/collections`` on ``sys.path`` makes
``ansible_collections.mspctl.policy.plugins...`` (and these tests' helpers,
``ansible_collections.mspctl.policy.tests.unit.plugins...``) importable as namespace packages.
"""

from __future__ import annotations

import sys
from pathlib import Path

COLLECTIONS = str(Path(__file__).resolve().parents[3] / "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
