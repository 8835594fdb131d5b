"""``Reader``: one connection, its dialect, and SQL written once for SQLite and PostgreSQL.

Queries name their parameters ``:name`` (SQLite's style); on PostgreSQL they become
psycopg's ``%(name)s``. Values come back as the driver gives them; ``utc`` and ``json``
turn SQLite's stored text into what PostgreSQL's driver already returns, so rows read the
same on both.
"""

from __future__ import annotations

import functools
import json as json_module
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

Dialect = Literal["sqlite", "postgresql"]
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")


@functools.lru_cache(maxsize=256)
def pyformat(sql: str) -> str:
    """``sql`` with ``:name`` parameters in psycopg's ``%(name)s`` style (and ``%`` doubled)."""
    return _PARAMETER.sub(r"%(\1)s", sql.replace("%", "%%"))


class Reader:
    """A DB-API connection that plain reads run their queries on."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect: Dialect = dialect

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Sequence[Any]]:
        """Every row of one query."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(pyformat(sql) if self.dialect == "postgresql" else sql, params or {})
            found = list(cursor.fetchall())
        finally:
            cursor.close()
        if self.dialect == "postgresql" and not self.connection.autocommit:
            # One snapshot per query, as with a connection per page: a reader streaming a
            # million rows holds no transaction open between its pages.
            self.connection.commit()
        return found

    def value(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row (None when there is no row)."""
        found = self.rows(sql, params)
        return found[0][0] if found else None

    @classmethod
    @contextmanager
    def of_engine(cls, engine: Engine) -> Iterator[Reader]:
        """A reader on a pooled connection of a SQLAlchemy engine, for the ``with`` block."""
        with engine.connect() as conn:
            dialect: Dialect = "postgresql" if engine.dialect.name == "postgresql" else "sqlite"
            yield cls(conn.connection.dbapi_connection, dialect)


def utc(value: datetime | str | None) -> datetime | None:
    """A stored timestamp as an aware UTC datetime: SQLite keeps naive UTC text
    (``2026-12-07 00:01:10.382000``), PostgreSQL's driver returns aware datetimes."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def stored_time(value: datetime, dialect: Dialect) -> datetime | str:
    """An aware datetime as the database compares it: SQLite's naive UTC text, in the
    form SQLAlchemy writes; PostgreSQL takes the datetime itself."""
    if dialect == "postgresql":
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def json(value: Any) -> Any:
    """A JSON column's value: SQLite returns its text, PostgreSQL's driver the object."""
    return json_module.loads(value) if isinstance(value, str | bytes) else value


def connect_sqlite(path: str, *, threads: bool = False) -> sqlite3.Connection:
    """A reading connection to an existing SQLite file (writers keep their WAL; readers
    never wait on them, and wait up to 30 s for a lock as the engine's connections do).
    ``threads``: other threads may use it (one at a time: the caller serialises)."""
    # mode=rw: a file that is not there is an error, never a new empty database.
    uri = f"file:{quote(str(Path(path).absolute()))}?mode=rw"
    connection = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=not threads)
    connection.isolation_level = None  # autocommit: each read is its own snapshot
    return connection
