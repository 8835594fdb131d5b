"""The workflow cache's generation token: one row, replaced by every workflow change.

See engine/definition_cache.py for how the cache uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.models import DefinitionGeneration, new_id, table_of, utcnow

if TYPE_CHECKING:
    from engine.db import Database

GENERATION = table_of(DefinitionGeneration)


def database_token(db: Database) -> str:
    """The generation token as committed (empty when the row is missing)."""
    with db.primary_read_engine.connect() as conn:
        token = conn.execute(sa.select(GENERATION.c.token).where(GENERATION.c.id == 1)).scalar()
    return str(token) if token is not None else ""


def write_token(conn: sa.Connection) -> str:
    """Replace the generation token in the caller's transaction; returns the new one."""
    token, now = new_id(), utcnow()
    updated = conn.execute(
        sa.update(GENERATION).where(GENERATION.c.id == 1).values(token=token, changed_at=now)
    )
    if not updated.rowcount:
        conn.execute(sa.insert(GENERATION).values(id=1, token=token, changed_at=now))
    return token
