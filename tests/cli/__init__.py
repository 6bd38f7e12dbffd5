"""CLI tests (a package, so test modules may share a basename with tests/unit)."""
