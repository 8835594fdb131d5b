"""Trigger rows go in only for workflows still as the trigger looked them up.

Triggers find their workflows through the cache (engine/workflow_cache/lookups.py), a moment
before they insert. Each execution row is therefore inserted by
``INSERT … SELECT … FROM workflow WHERE id = :workflow_id AND enabled AND version =
:workflow_version``: a workflow disabled, deleted or saved again in that moment gets no
row, and the caller, told which rows went in, decides what to do about the others.
This module serves every dialect through SQLAlchemy Core; the PostgreSQL fast path of
manual runs and webhooks has the same condition in one pipelined statement
(``pg_store.insert_executions``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.execution.claims import EXECUTIONS
from engine.models import Workflow, table_of

W = table_of(Workflow).c
_FROM_WORKFLOW = {"workflow_id": W.id, "workflow_version": W.version}


def insert_if_current(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Insert each row whose workflow is, at that statement, enabled at the row's version;
    returns the ids inserted.

    A row with a ``dedupe_key`` that is already taken is skipped too (as ``insert_once``).
    """
    inserted: list[str] = []
    for row in rows:  # RETURNING says which ones went in
        statement = _statement(tuple(row), conn.dialect.name).returning(EXECUTIONS.c.id)
        inserted.extend(str(i) for i in conn.execute(statement, dict(row)).scalars())
    return inserted


def insert_all_if_current(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> bool:
    """``insert_if_current`` for many rows at once (one executemany); True when every row
    went in. The caller rolls back otherwise, for all or nothing."""
    if not rows:
        return True
    statement = _statement(tuple(rows[0]), conn.dialect.name)
    return conn.execute(statement, [dict(row) for row in rows]).rowcount == len(rows)


@lru_cache(maxsize=16)
def _statement(columns: tuple[str, ...], dialect: str) -> Any:
    values = [
        _FROM_WORKFLOW.get(name, sa.bindparam(name, type_=EXECUTIONS.c[name].type))
        for name in columns
    ]
    still_current = sa.select(*values).where(
        W.id == sa.bindparam("workflow_id"),
        W.enabled.is_(True),
        W.version == sa.bindparam("workflow_version"),
    )
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(EXECUTIONS)
    statement = insert.from_select(list(columns), still_current)
    if "dedupe_key" in columns:
        statement = statement.on_conflict_do_nothing(
            index_elements=["dedupe_key"], index_where=sa.text("dedupe_key IS NOT NULL")
        )
    return statement
