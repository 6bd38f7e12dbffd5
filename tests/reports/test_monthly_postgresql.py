"""The monthly report reads the same month the same way from a real PostgreSQL store."""

from __future__ import annotations

import json

from pgserver import pg_url, postgres_url

from .conftest import CLIENT, write_month

__all__ = ["pg_url", "postgres_url"]  # the fixtures


def test_the_month_from_postgresql_equals_the_month_from_sqlite(month_project, cli, pg_url):
    def month() -> dict:
        result = cli("report", CLIENT, "--month", "2026-10", "--format", "json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        data.pop("generated_at", None)
        return data

    from_sqlite = month()
    write_month(pg_url)
    cli.env["MSPCTL_DB_URL"] = pg_url
    from_postgresql = month()
    assert from_postgresql["summary"]["runs"] == from_sqlite["summary"]["runs"] > 0
    assert from_postgresql == from_sqlite
