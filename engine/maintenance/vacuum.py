"""VACUUM, ANALYZE and (on PostgreSQL) REINDEX, with the database size before and after.

PostgreSQL: ``VACUUM (ANALYZE)`` of every engine table, then ``REINDEX TABLE
CONCURRENTLY`` (no write lock on the table while it rebuilds). SQLite: ``VACUUM`` (which
rewrites the file and needs as much free disk again) and ``ANALYZE``. Both run outside a
transaction, as the databases require.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from engine.db import Database

Progress = Callable[[str], None]
"""``progress(step)`` before each statement, e.g. "VACUUM (ANALYZE) workflow_execution"."""


@dataclass(frozen=True)
class VacuumResult:
    size_before: int
    size_after: int
    seconds: float
    statements: int


def database_size(db: Database) -> int:
    """Bytes the database takes: pg_database_size, or the SQLite file plus its WAL."""
    url = make_url(db.url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with db.engine.connect() as conn:
        size = conn.execute(sa.text("SELECT pg_database_size(current_database())"))
        return int(size.scalar_one())


def _statements(conn: sa.Connection) -> list[str]:
    if conn.dialect.name == "sqlite":
        return ["VACUUM", "ANALYZE"]
    tables = sorted(
        name for name in sa.inspect(conn).get_table_names() if name != "alembic_version"
    )
    quoted = [conn.dialect.identifier_preparer.quote(name) for name in tables]
    return [f"VACUUM (ANALYZE) {name}" for name in quoted] + [
        f"REINDEX TABLE CONCURRENTLY {name}" for name in quoted
    ]


def vacuum(db: Database, *, progress: Progress | None = None) -> VacuumResult:
    """Reclaim space, refresh planner statistics and rebuild bloated indexes."""
    before = database_size(db)
    started = time.perf_counter()
    with db.engine.connect() as conn:
        statements = _statements(conn)
    # Outside any transaction: the engine's SQLite connections would BEGIN IMMEDIATE on
    # first use, so these run on a bare DB-API connection in autocommit mode.
    raw = db.engine.raw_connection()
    try:
        driver = raw.driver_connection
        if db.engine.dialect.name != "sqlite":
            driver.autocommit = True  # type: ignore[union-attr]
        for statement in statements:
            if progress is not None:
                progress(statement)
            driver.execute(statement)  # type: ignore[union-attr]
    finally:
        raw.invalidate()  # its autocommit mode must not go back to the pool
    return VacuumResult(before, database_size(db), time.perf_counter() - started, len(statements))
