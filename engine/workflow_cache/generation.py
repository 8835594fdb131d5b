"""The workflow cache's generation: one row whose number grows with every workflow change.

See engine/workflow_cache/cache.py for how the cache uses it. The number only grows: it
starts at the database's creation time in milliseconds, every change adds one in the
changing transaction (so commit order is number order), and a restore moves it past the
restored number, the time in milliseconds and any number Redis holds. A number therefore
never stands for two different sets of definitions, even for a database created again or
restored under the same Redis.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.core_tables import DEFINITION_GENERATION

if TYPE_CHECKING:
    from engine.db import Database

GENERATION = DEFINITION_GENERATION


def utcnow() -> datetime:
    """Now, aware UTC (the storage convention)."""
    return datetime.now(UTC)


def first_generation() -> int:
    """The number a new generation row starts at: the time in milliseconds."""
    return int(time.time() * 1000)


def database_generation(db: Database) -> int:
    """The generation as committed (0 when the row is missing)."""
    with db.primary_read_engine.connect() as conn:
        return read_generation(conn)


def read_generation(conn: sa.Connection) -> int:
    """The generation as the caller's connection sees it (0 when the row is missing)."""
    gen = conn.execute(sa.select(GENERATION.c.gen).where(GENERATION.c.id == 1)).scalar()
    return int(gen) if gen is not None else 0


def next_generation(conn: sa.Connection) -> int:
    """Add one to the generation in the caller's transaction; returns the new number.

    The UPDATE locks the row until the transaction ends, so concurrent changes commit in
    the order of their numbers.
    """
    now = utcnow()
    gen = conn.execute(
        sa.update(GENERATION)
        .where(GENERATION.c.id == 1)
        .values(gen=GENERATION.c.gen + 1, changed_at=now)
        .returning(GENERATION.c.gen)
    ).scalar()
    if gen is None:  # the row is missing (a restored backup from before migration 0006)
        gen = first_generation()
        conn.execute(sa.insert(GENERATION).values(id=1, gen=gen, changed_at=now))
    return int(gen)


def restart_generation(conn: sa.Connection, *, above: int = 0) -> int:
    """After a restore: a number above the restored one, ``above`` and the time in ms."""
    gen = max(read_generation(conn) + 1, above + 1, first_generation())
    now = utcnow()
    updated = conn.execute(
        sa.update(GENERATION).where(GENERATION.c.id == 1).values(gen=gen, changed_at=now)
    )
    if not updated.rowcount:
        conn.execute(sa.insert(GENERATION).values(id=1, gen=gen, changed_at=now))
    return gen
