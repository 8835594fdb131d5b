"""Failure signatures stored with the failure, and an index of FAILED rows to group them.

``workflow_execution.error_signature`` holds ``normalise_error(error)`` (at most 120
characters: ids, numbers, times and queries gone), written by whoever writes the FAILED
status, so the failure clusters group by it in the database instead of normalising every
distinct message at read time. The signature itself is stored, not a hash of it: it is
short and bounded already, it is what the console shows as the cluster's error, and a
cluster's retry finds its rows by it exactly.

``idx_execution_failed_signature`` is partial (FAILED rows only: other runs add no
entry): the window's failures as a range on ``created_at``, with the grouping columns.

Existing FAILED rows are signed in batches of ``BATCH`` rows in id order: one SELECT …
FOR UPDATE, the signatures computed in Python (the normaliser is Python), one UPDATE by
primary key per row (executemany). On PostgreSQL the column and index are committed
first and each batch is a transaction of its own, so workers wait for the table's lock
only while the column is added; a backfill that stops half-way is finished by running
the upgrade again (it signs only rows still NULL). SQLite does it all in the one
migration transaction, which its single writer lock would serialise anyway.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 00:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa
from alembic import op

from engine.execution.error_signature import normalise_error

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH: Final = 5000
INDEX: Final = "idx_execution_failed_signature"
INDEX_COLUMNS: Final = ["created_at", "workflow_id", "workflow_version", "next_step",
                        "error_signature"]  # fmt: skip
FAILED_ONLY: Final = "status = 'FAILED'"

_executions = sa.table(
    "workflow_execution",
    sa.column("id", sa.String),
    sa.column("status", sa.String),
    sa.column("error", sa.Text),
    sa.column("error_signature", sa.String),
)
_E = _executions.c
# Locked until the batch commits, so a worker failing one of these rows again meanwhile
# waits, and its own signature is not overwritten by the one computed here.
_NEXT_BATCH = (
    sa.select(_E.id, _E.error)
    .where(
        _E.status == sa.literal_column("'FAILED'"),
        _E.error_signature.is_(None),
        _E.id > sa.bindparam("after"),
    )
    .order_by(_E.id)
    .limit(BATCH)
    .with_for_update()
)
# One primary-key lookup per row (executemany): no join for the planner to misjudge on
# a column it has no statistics for yet.
_FILL = (
    sa.update(_executions)
    .where(_E.id == sa.bindparam("b_id"))
    .values(error_signature=sa.bindparam("b_signature"))
)


def fill_batch(conn: sa.Connection, after: str) -> list[str]:
    """Sign the next ``BATCH`` unsigned FAILED rows with ids above ``after``; returns their
    ids, in order (none when nothing is left)."""
    rows = conn.execute(_NEXT_BATCH, {"after": after}).all()
    if rows:
        signed = [{"b_id": row.id, "b_signature": normalise_error(row.error)} for row in rows]
        conn.execute(_FILL, signed)
    return [str(row.id) for row in rows]


def backfill(conn: sa.Connection, *, commit_each_batch: bool) -> int:
    """Sign every unsigned FAILED row; returns how many it signed.

    ``commit_each_batch``: ``conn`` is outside any transaction and each batch is one;
    otherwise every batch runs in the caller's transaction.
    """
    after, signed = "", 0
    while True:
        if commit_each_batch:
            with conn.begin():
                ids = fill_batch(conn, after)
        else:
            ids = fill_batch(conn, after)
        if not ids:
            return signed
        signed += len(ids)
        after = ids[-1]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        with op.batch_alter_table("workflow_execution", schema=None) as batch_op:
            batch_op.add_column(sa.Column("error_signature", sa.String(length=120)))
            batch_op.create_index(INDEX, INDEX_COLUMNS, sqlite_where=sa.text(FAILED_ONLY))
        backfill(bind, commit_each_batch=False)
        return
    # IF NOT EXISTS: a run whose backfill stopped half-way committed these already.
    op.execute(
        "ALTER TABLE workflow_execution ADD COLUMN IF NOT EXISTS error_signature VARCHAR(120)"
    )
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON workflow_execution"
        f" ({', '.join(INDEX_COLUMNS)}) WHERE {FAILED_ONLY}"
    )
    # Commits the column and index; the batches then commit one by one on a connection of
    # their own, while workers go on using the table.
    with op.get_context().autocommit_block(), bind.engine.connect() as conn:
        backfill(conn, commit_each_batch=True)


def downgrade() -> None:
    with op.batch_alter_table("workflow_execution", schema=None) as batch_op:
        batch_op.drop_index(
            INDEX,
            postgresql_where=sa.text(FAILED_ONLY),
            sqlite_where=sa.text(FAILED_ONLY),
        )
        batch_op.drop_column("error_signature")
