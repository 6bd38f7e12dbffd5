"""How :mod:`mspctl.store.queries` runs its SQL: on a plain ``sqlite3`` connection (a SQLite
file: no SQLAlchemy to import) or on a SQLAlchemy session (PostgreSQL, and callers already in
an ORM unit of work). The SQL lives in ``queries`` only; this module binds its parameters and
reads its columns back as the ORM types would (UTC-aware timestamps, JSON, booleans).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from mspctl.errors import StoreUnavailable

if TYPE_CHECKING:
    import sqlite3

    from sqlalchemy.orm import Session

# how SQLAlchemy stores a DateTime on SQLite (UTCDateTime converts to UTC first)
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
_PARAM = re.compile(r"(?<![:\w]):(\w+)")


class Reader:
    """Runs a query's SQL (``:name`` parameters; a list or tuple value expands to a list of
    parameters for ``IN (:name)``) and returns its rows as named tuples."""

    def __init__(
        self,
        execute: Callable[[str, dict[str, Any]], tuple[list[str], Iterable[Any]]],
        sqlite: bool,
    ) -> None:
        self._execute = execute
        self.sqlite = sqlite

    @classmethod
    def of_sqlite(cls, connection: sqlite3.Connection, name: str) -> Reader:
        import sqlite3

        def execute(sql: str, params: dict[str, Any]) -> tuple[list[str], Iterable[Any]]:
            try:
                cursor = connection.execute(sql, params)
                return [d[0] for d in cursor.description], cursor.fetchall()
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"run store {name} unavailable: {exc}") from None

        return cls(execute, sqlite=True)

    @classmethod
    def of_session(cls, session: Session) -> Reader:
        from sqlalchemy import text

        def execute(sql: str, params: dict[str, Any]) -> tuple[list[str], Iterable[Any]]:
            result = session.execute(text(sql), params)
            return list(result.keys()), result.all()

        return cls(execute, sqlite=session.get_bind().dialect.name == "sqlite")

    def rows(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        times: Sequence[str] = (),
        jsons: Sequence[str] = (),
        flags: Sequence[str] = (),
    ) -> list[Any]:
        """The rows of ``sql``; the columns named in ``times`` come back as UTC-aware
        datetimes, in ``jsons`` as decoded JSON, in ``flags`` as booleans."""
        sql, bound = self._bind(sql, dict(params or {}))
        names, raw = self._execute(sql, bound)
        row = _row_type(tuple(names))
        convert = [
            (i, self._time if n in times else self._json if n in jsons else _flag)
            for i, n in enumerate(names)
            if n in times or n in jsons or n in flags
        ]
        if not convert:
            return [row._make(r) for r in raw]
        out = []
        for r in raw:
            values = list(r)
            for i, fn in convert:
                values[i] = fn(values[i])
            out.append(row._make(values))
        return out

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def _bind(self, sql: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        bound: dict[str, Any] = {}

        def expand(match: re.Match[str]) -> str:
            name = match.group(1)
            value = params[name]
            if isinstance(value, list | tuple | set | frozenset):
                if not value:
                    return "NULL"  # IN (NULL) matches nothing
                names = [f"{name}_{i}" for i in range(len(value))]
                for key, item in zip(names, value, strict=True):
                    bound[key] = self._param(item)
                return ", ".join(f":{key}" for key in names)
            bound[name] = self._param(value)
            return match.group(0)

        return _PARAM.sub(expand, sql), bound

    def _param(self, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise ValueError("naive datetime given to the run store")
            value = value.astimezone(dt.UTC)
            return value.strftime(_SQLITE_TIME) if self.sqlite else value
        return value

    def _time(self, value: Any) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        assert isinstance(value, dt.datetime)
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)

    def _json(self, value: Any) -> Any:
        if self.sqlite and isinstance(value, str | bytes):
            return json.loads(value)
        return value


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


@cache
def _row_type(names: tuple[str, ...]) -> Any:
    return namedtuple("Row", names, rename=True)
