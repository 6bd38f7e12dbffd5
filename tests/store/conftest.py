"""Store tests run on SQLite and on a real PostgreSQL (``db_url``)."""

from pgserver import db_url, pg_url, postgres_url

__all__ = ["db_url", "pg_url", "postgres_url"]
